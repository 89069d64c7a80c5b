using SpecNet.Layers;
using SpecNet.Parsing;
using SpecNet.Schema;

namespace SpecNet.Checking;

/// <summary>
/// Changes a spec's YAML tree by dotted paths, as a sweep's trials do: `training.batch_size`,
/// `training.optimizer.adam.learning_rate` (a bare `optimizer: adam` becomes a map), `layers.stem.filters`
/// (a layer by its name, or its default name: conv2d_2, residual_1/conv2d_1), `data.augment.rotation`.
/// Missing maps and keys are created; whether the result is a valid spec is for the compiler to say.
/// </summary>
public static class SpecEdit
{
    public static YamlTree Copy(YamlTree tree) => tree switch
    {
        YamlScalar s => new YamlScalar(s.Value, s.Quoted),
        YamlList l => new YamlList(l.Items.Select(Copy).ToList()),
        YamlMap m => new YamlMap(m.Entries.Select(e => (e.Key, Copy(e.Value))).ToList()),
        _ => throw new ArgumentException(tree.GetType().Name),
    };

    /// <summary>Sets the value at <paramref name="path"/> (with no value: only checks that the path can be reached); returns the problem, or null.</summary>
    public static string? Set(YamlTree root, string path, YamlTree? value = null)
    {
        var parts = path.Split('.');
        if (parts.Any(p => p.Length == 0)) return "a path is names joined by dots, such as training.batch_size";
        if (root is not YamlMap map) return "the spec is not a map";
        YamlMap current = map;
        int i = 0;
        if (parts[0] == "layers")
        {
            if (parts.Length < 3) return "name a layer and one of its options: layers.<name>.<option>";
            if (map["layers"] is not YamlList layers || Find(layers, parts[1], "") is not { } layer) return $"the spec has no layer named '{parts[1]}'";
            current = layer;
            i = 2;
        }
        for (; i < parts.Length - 1; i++)
        {
            var next = current[parts[i]];
            switch (next)
            {
                case YamlMap m: current = m; break;
                case null or YamlScalar { Value: "", Quoted: false }:
                    var created = new YamlMap([]);
                    if (value is not null) current[parts[i]] = created;
                    current = created;
                    break;
                // `optimizer: adam` reached as optimizer.adam.learning_rate: the bare name becomes a map
                case YamlScalar s when s.Value == parts[i + 1] && i + 2 < parts.Length:
                    var options = new YamlMap([(s.Value, new YamlMap([]))]);
                    if (value is not null) current[parts[i]] = options;
                    current = options;
                    break;
                case YamlScalar s:
                    return $"'{string.Join('.', parts[..(i + 1)])}' is '{s.Value}'{(i + 1 < parts.Length - 1 ? $", not '{parts[i + 1]}'" : "")}";
                default:
                    return $"'{string.Join('.', parts[..(i + 1)])}' is a list; name a layer with layers.<name>.<option>";
            }
        }
        if (value is not null) current[parts[^1]] = value;
        return null;
    }

    /// <summary>The layer names a path may use, for "did you mean".</summary>
    public static string? Hint(YamlTree root, string path)
    {
        var parts = path.Split('.');
        if (parts.Length >= 2 && parts[0] == "layers" && root is YamlMap { } map && map["layers"] is YamlList layers)
        {
            var names = new List<string>();
            Collect(layers, "", names);
            return Names.Hint(parts[1], names, "layers");
        }
        return null;
    }

    /// <summary>The options map of the layer entry named <paramref name="name"/> (its own name, or its default name within its scope).</summary>
    private static YamlMap? Find(YamlList list, string name, string scope)
    {
        var counts = new Dictionary<string, int>();
        for (int k = 0; k < list.Items.Count; k++)
        {
            var (kind, options) = Split(list, k);
            if (kind is null) continue;
            counts[kind] = counts.GetValueOrDefault(kind) + 1;
            var own = (options?["name"] as YamlScalar)?.Value;
            var entryName = own ?? $"{scope}{kind}_{counts[kind]}";
            if (entryName == name)
            {
                if (options is null)
                {
                    options = new YamlMap([]);
                    list.Items[k] = new YamlMap([(kind, options)]);
                }
                return options;
            }
            if (options is null || kind is not ("residual" or "parallel")) continue;
            var blockScope = entryName + "/";
            if (options["layers"] is YamlList main && Find(main, name, blockScope) is { } a) return a;
            if (options["shortcut"] is YamlList shortcut && Find(shortcut, name, blockScope + "shortcut/") is { } b) return b;
            if (options["branches"] is YamlList branches)
                for (int j = 0; j < branches.Items.Count; j++)
                    if (branches.Items[j] is YamlList branch && Find(branch, name, $"{blockScope}branch_{j + 1}/") is { } c) return c;
        }
        return null;
    }

    private static void Collect(YamlList list, string scope, List<string> names)
    {
        var counts = new Dictionary<string, int>();
        for (int k = 0; k < list.Items.Count; k++)
        {
            var (kind, options) = Split(list, k);
            if (kind is null) continue;
            counts[kind] = counts.GetValueOrDefault(kind) + 1;
            var name = (options?["name"] as YamlScalar)?.Value ?? $"{scope}{kind}_{counts[kind]}";
            names.Add(name);
            if (options?["layers"] is YamlList main) Collect(main, name + "/", names);
            if (options?["shortcut"] is YamlList shortcut) Collect(shortcut, name + "/shortcut/", names);
        }
    }

    /// <summary>An entry `- kind`, `- kind:` or `- kind: {options}`: its kind and options map (null when it has none).</summary>
    private static (string? Kind, YamlMap? Options) Split(YamlList list, int k) => list.Items[k] switch
    {
        YamlScalar s => (s.Value, null),
        YamlMap { Entries.Count: 1 } m => (m.Entries[0].Key, m.Entries[0].Value as YamlMap),
        _ => (null, null),
    };

    /// <summary>The paths a spec reads files from (data sources, init_from), made relative to another folder.</summary>
    public static void RebasePaths(YamlTree root, string from, string to)
    {
        if (root is not YamlMap map) return;
        void Rebase(YamlMap? m, string key)
        {
            if (m?[key] is YamlScalar { Value.Length: > 0 } s)
                m[key] = new YamlScalar(Path.GetRelativePath(to, Path.GetFullPath(s.Value, from)).Replace('\\', '/'), s.Quoted);
        }
        if (map["data"] is YamlMap data)
            foreach (var split in new[] { "train", "test", "validation" })
                if (data[split] is YamlMap source)
                    foreach (var key in new[] { "images", "labels", "folder", "csv" }) Rebase(source, key);
        Rebase(map["training"] as YamlMap, "init_from");
    }
}
