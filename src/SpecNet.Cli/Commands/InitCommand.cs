using SpecNet.Diagnostics;
using System.CommandLine;
using System.Text.Json;
using SpecNet.Checking;
using SpecNet.Formats;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet init`: a starter spec from a template, with the schema beside it.</summary>
public static class InitCommand
{
    public static readonly IReadOnlyDictionary<string, string> Templates = new Dictionary<string, string>
    {
        ["cnn"] = """
            # The Keras tutorial's convolutional network for 28x28 grayscale digits.
            name: my-cnn
            input: { shape: [28, 28, 1] }
            data: { dataset: mnist }
            layers:
              - conv2d: { filters: 32, kernel_size: 3, activation: relu }
              - max_pool2d: { pool_size: 2 }
              - conv2d: { filters: 64, kernel_size: 3, activation: relu }
              - max_pool2d: { pool_size: 2 }
              - flatten
              - dense: { units: 128, activation: relu }
              - dense: { units: 10, activation: softmax }
            training:
              optimizer: adam
              loss: categorical_crossentropy
              epochs: 5
              batch_size: 64
              seed: 42
            """,
        ["mlp"] = """
            # A multi-layer perceptron: flatten the image, two hidden layers with dropout.
            name: my-mlp
            input: { shape: [28, 28, 1] }
            data: { dataset: mnist }
            layers:
              - flatten
              - dense: { units: 256, activation: relu }
              - dropout: { rate: 0.2 }
              - dense: { units: 128, activation: relu }
              - dense: { units: 10, activation: softmax }
            training:
              optimizer: { adam: { learning_rate: 0.001 } }
              epochs: 5
              batch_size: 64
              seed: 42
            """,
        ["lenet"] = """
            # LeNet-5 (LeCun et al., 1998) with 'same' padding on the first convolution.
            name: my-lenet
            input: { shape: [28, 28, 1] }
            data: { dataset: mnist }
            layers:
              - conv2d: { filters: 6, kernel_size: 5, padding: same, activation: tanh }
              - avg_pool2d: { pool_size: 2 }
              - conv2d: { filters: 16, kernel_size: 5, activation: tanh }
              - avg_pool2d: { pool_size: 2 }
              - flatten
              - dense: { units: 120, activation: tanh }
              - dense: { units: 84, activation: tanh }
              - dense: { units: 10, activation: softmax }
            training:
              optimizer: { sgd: { learning_rate: 0.05, momentum: 0.9 } }
              epochs: 5
              batch_size: 64
              seed: 42
            """,
        ["resnet"] = """
            # A small residual network: blocks compute relu(layers(x) + shortcut(x)); a 1x1 convolution with
            # strides is the shortcut where a block halves the size. Layers inside a block are named after it
            # (residual_2/conv2d_1, residual_2/shortcut/conv2d_1).
            name: my-resnet
            input: { shape: [28, 28, 1] }
            data: { dataset: fashion-mnist }
            layers:
              - conv2d: { filters: 16, kernel_size: 3, padding: same, use_bias: false, name: stem }
              - batch_norm
              - relu
              - residual:
                  layers:
                    - conv2d: { filters: 16, kernel_size: 3, padding: same, use_bias: false }
                    - batch_norm
                    - relu
                    - conv2d: { filters: 16, kernel_size: 3, padding: same, use_bias: false }
                    - batch_norm
                  activation: relu
              - residual:
                  layers:
                    - conv2d: { filters: 32, kernel_size: 3, strides: 2, padding: same, use_bias: false }
                    - batch_norm
                    - relu
                    - conv2d: { filters: 32, kernel_size: 3, padding: same, use_bias: false }
                    - batch_norm
                  shortcut:
                    - conv2d: { filters: 32, kernel_size: 1, strides: 2, use_bias: false }
                    - batch_norm
                  activation: relu
              - global_avg_pool2d
              - dense: { units: 10, activation: softmax }
            training:
              optimizer: adam
              epochs: 5
              batch_size: 64
              seed: 42
            """,
        ["mobilenet"] = """
            # A small MobileNet v3: inverted residual blocks (a 1x1 expansion, a 3x3 depthwise convolution, a linear 1x1
            # projection), a squeeze-and-excitation gate (a vector from the pooled map multiplies its channels), hard_swish
            # and relu6. Batch norms at momentum 0.9: the moving statistics keep up with weights that change this fast.
            name: my-mobilenet
            input: { shape: [28, 28, 1] }
            data: { dataset: fashion-mnist }
            layers:
              - conv2d: { filters: 16, kernel_size: 3, padding: same, use_bias: false }
              - batch_norm: { momentum: 0.9 }
              - hard_swish
              - residual:
                  layers:
                    - conv2d: { filters: 48, kernel_size: 1, use_bias: false }
                    - batch_norm: { momentum: 0.9 }
                    - relu6
                    - depthwise_conv2d: { kernel_size: 3, padding: same, use_bias: false }
                    - batch_norm: { momentum: 0.9 }
                    - relu6
                    - conv2d: { filters: 16, kernel_size: 1, use_bias: false }
                    - batch_norm: { momentum: 0.9 }
              - conv2d: { filters: 64, kernel_size: 1, use_bias: false }
              - batch_norm: { momentum: 0.9 }
              - hard_swish
              - depthwise_conv2d: { kernel_size: 3, strides: 2, padding: same, use_bias: false }
              - batch_norm: { momentum: 0.9 }
              - hard_swish: { name: expanded }
              - global_avg_pool2d
              - dense: { units: 16, activation: relu }
              - dense: { units: 64, activation: hard_sigmoid }
              - multiply: { inputs: [expanded, previous] }
              - conv2d: { filters: 32, kernel_size: 1, use_bias: false }
              - batch_norm: { momentum: 0.9 }
              - global_avg_pool2d
              - dense: { units: 10, activation: softmax }
            training:
              optimizer: { adam: { learning_rate: 0.002 } }
              epochs: 5
              batch_size: 64
              seed: 42
            """,
        ["convnext"] = """
            # A small ConvNeXt: a patchify stem (2x2, stride 2) and layer_norm; blocks of a 7x7 depthwise convolution, a
            # layer_norm, a 1x1 expansion to four times the width with gelu and a 1x1 projection back, added to the block's
            # input; a layer_norm and a 2x2 stride-2 convolution between stages. AdamW with a warm-up and a cosine decay.
            name: my-convnext
            input: { shape: [28, 28, 1] }
            data: { dataset: fashion-mnist }
            layers:
              - conv2d: { filters: 32, kernel_size: 2, strides: 2, name: stem }
              - layer_norm: { epsilon: 0.000001 }
              - residual:
                  layers:
                    - depthwise_conv2d: { kernel_size: 7, padding: same }
                    - layer_norm: { epsilon: 0.000001 }
                    - conv2d: { filters: 128, kernel_size: 1, activation: gelu }
                    - conv2d: { filters: 32, kernel_size: 1 }
              - layer_norm: { epsilon: 0.000001 }
              - conv2d: { filters: 64, kernel_size: 2, strides: 2 }
              - residual:
                  layers:
                    - depthwise_conv2d: { kernel_size: 7, padding: same }
                    - layer_norm: { epsilon: 0.000001 }
                    - conv2d: { filters: 256, kernel_size: 1, activation: gelu }
                    - conv2d: { filters: 64, kernel_size: 1 }
              - global_avg_pool2d
              - layer_norm: { epsilon: 0.000001 }
              - dense: { units: 10, activation: softmax }
            training:
              optimizer:
                adamw:
                  learning_rate:   # 300 steps of warm-up, then a cosine to 0 over the rest of 3 epochs of 938 steps
                    cosine_decay: { initial_learning_rate: 0.0, warmup_target: 0.002, warmup_steps: 300, decay_steps: 2514 }
                  weight_decay: 0.05
              epochs: 3
              batch_size: 64
              seed: 42
            """,
    };

    public static Command Create()
    {
        var template = new Option<string>("--template") { Description = "cnn, mlp, lenet, resnet, mobilenet or convnext", DefaultValueFactory = _ => "cnn" };
        template.AcceptOnlyFromAmong([.. Templates.Keys]);
        var output = new Option<string>("--output", "-o") { Description = "file to write", DefaultValueFactory = _ => "model.yaml" };
        var force = new Option<bool>("--force") { Description = "overwrite an existing file" };
        var command = new Command("init", "Write a starter spec that checks and trains.\n\nExample: specnet init --template lenet -o lenet.yaml") { template, output, force };
        command.SetAction(result =>
        {
            var path = result.GetValue(output)!;
            if (File.Exists(path) && !result.GetValue(force))
                throw new SpecNetException($"{path}: already exists", "pass --force to overwrite it, or -o another file");
            // The modeline gives completion and hover docs in editors with yaml-language-server (VS Code's YAML extension).
            var text = "# yaml-language-server: $schema=./specnet.schema.json\n" + Templates[result.GetValue(template)!] + "\n";
            AtomicFile.Write(path, s => s.Write(System.Text.Encoding.UTF8.GetBytes(text)));
            var schema = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "specnet.schema.json");
            if (!File.Exists(schema)) AtomicFile.Write(schema, s => s.Write(System.Text.Encoding.UTF8.GetBytes(SchemaCommand.SchemaText() + "\n")));
            result.InvocationConfiguration.Output.WriteLine($"Wrote {path} ({result.GetValue(template)}) and {Path.GetFileName(schema)} beside it. Next: specnet check {path}, then specnet train {path}");
            return ExitCodes.Ok;
        });
        return command;
    }
}
