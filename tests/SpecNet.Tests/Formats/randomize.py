"""Shared by make-onnx.py and make-random-onnx.py: statistics and scales that are not a fresh module's, so that an importer that
drops, swaps or misreads one gives other outputs."""
import torch
import torch.nn as nn


def randomize_batch_norm(model):
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):   # gamma and beta away from 1 and 0, so that a swapped or dropped one shows
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
