namespace SpecNet.Schema;

/// <summary>Finds the name a user probably meant: edit distance, plus the Keras and PyTorch spellings users bring along.</summary>
public static class Names
{
    private static readonly Dictionary<string, string> KerasSpellings = new()
    {
        // PyTorch's (torch.nn's class names, a "nn." prefix dropped by Fold)
        ["linear"] = "dense", ["batchnorm2d"] = "batch_norm", ["adaptiveavgpool2d"] = "global_avg_pool2d", ["adaptivemaxpool2d"] = "global_max_pool2d",
        ["crossentropyloss"] = "categorical_crossentropy", ["bceloss"] = "binary_crossentropy", ["bcewithlogitsloss"] = "binary_crossentropy",
        ["mseloss"] = "mse", ["outfeatures"] = "units", ["outchannels"] = "filters", ["padding2d"] = "zero_padding2d", ["zeropad2d"] = "zero_padding2d",
        // Keras's
        ["maxpooling2d"] = "max_pool2d", ["maxpool2d"] = "max_pool2d", ["averagepooling2d"] = "avg_pool2d",
        ["avgpool2d"] = "avg_pool2d", ["globalaveragepooling2d"] = "global_avg_pool2d",
        ["globalmaxpooling2d"] = "global_max_pool2d", ["batchnormalization"] = "batch_norm", ["batchnorm"] = "batch_norm",
        ["layernormalization"] = "layer_norm",
        ["convolution2d"] = "conv2d", ["leakyrelu"] = "leaky_relu", ["kernel"] = "kernel_size", ["pool"] = "pool_size",
        ["stride"] = "strides", ["lr"] = "learning_rate", ["dilation"] = "dilation_rate", ["momentum"] = "momentum",
        ["optimiser"] = "optimizer", ["batchsize"] = "batch_size", ["epoch"] = "epochs", ["units"] = "units",
        ["crossentropy"] = "categorical_crossentropy", ["fashion_mnist"] = "fashion-mnist", ["fashionmnist"] = "fashion-mnist",
        ["train"] = "training",
        ["swish"] = "silu", ["hardsilu"] = "hard_swish",
    };

    public static string? Suggest(string given, IEnumerable<string> known)
    {
        var candidates = known.ToList();
        var folded = Fold(given);
        if (KerasSpellings.TryGetValue(folded, out var keras) && candidates.Contains(keras)) return keras;
        var exactFold = candidates.FirstOrDefault(k => Fold(k) == folded);
        if (exactFold is not null) return exactFold;
        // an abbreviation: "val_acc" for val_accuracy, "conv" for conv2d
        var prefixed = candidates.Where(k => folded.Length >= 3 && Fold(k).StartsWith(folded, StringComparison.Ordinal)).ToList();
        if (prefixed.Count == 1) return prefixed[0];
        var best = candidates.Select(k => (k, d: Distance(given.ToLowerInvariant(), k)))
                             .OrderBy(p => p.d).FirstOrDefault();
        return best.k is not null && best.d <= Math.Max(1, Math.Min(3, given.Length / 3)) ? best.k : null;
    }

    /// <summary>"did you mean 'x'?" when there is a near miss, else the list of what is known.</summary>
    public static string Hint(string given, IEnumerable<string> known, string what)
    {
        var list = known.ToList();
        var suggestion = Suggest(given, list);
        return suggestion is not null ? $"did you mean '{suggestion}'?" : $"known {what}: {string.Join(", ", list)}";
    }

    private static string Fold(string s)
    {
        var name = s.Trim();
        foreach (var prefix in new[] { "torch.nn.", "nn.", "keras.layers.", "layers.", "tf.keras.layers." })
            if (name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) { name = name[prefix.Length..]; break; }
        return new(name.ToLowerInvariant().Where(char.IsLetterOrDigit).ToArray());
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1); // transposition
            }
        return d[a.Length, b.Length];
    }
}
