namespace SpecNet.Formats;

/// <summary>A constant tensor met while importing: weights (float) or shape arithmetic (int64), with its dims.</summary>
internal sealed record ConstantTensor(long[] Dims, float[]? Floats, long[]? Ints)
{
    /// <summary>The batch size where an exporter computed with it (x.size(0)): unknown until run time, far from any real size so arithmetic on it stays recognisably wrong.</summary>
    public const long Batch = -(1L << 50);

    public long Count => CountOf(Dims);
    public bool IsFloat => Floats is not null;
    public double At(long i) => Floats is { } f ? f[i] : Ints![i];

    public static long CountOf(long[] dims) => dims.Aggregate(1L, (a, b) => a * b);
    public static ConstantTensor Of(OnnxTensor t) => new(t.Dims, t.Floats.Length > 0 || t.Ints.Length == 0 && t.Count == 0 ? t.Floats : null, t.Floats.Length > 0 ? null : t.Ints);
    public static ConstantTensor Integers(params long[] values) => new([values.Length], null, values);

    /// <summary>The same values with other dims (Reshape, Squeeze, Unsqueeze).</summary>
    public ConstantTensor WithDims(long[] dims) => this with { Dims = dims };

    /// <summary>A tensor of <paramref name="dims"/> whose element i is this tensor's element source(i).</summary>
    public ConstantTensor Select(long[] dims, Func<long, long> source)
    {
        long n = OnnxConstants.Bounded(dims);
        if (Floats is { } f)
        {
            var r = new float[n];
            for (long i = 0; i < n; i++) r[i] = f[source(i)];
            return new(dims, r, null);
        }
        var v = new long[n];
        for (long i = 0; i < n; i++) v[i] = Ints![source(i)];
        return new(dims, null, v);
    }
}

/// <summary>
/// Evaluates the nodes of an ONNX graph whose inputs are all constants: the shape arithmetic exporters write
/// around Pad, Reshape and view (Shape, Gather, Concat, Slice, Cast, Sub, Div...), so that what reaches a layer
/// is a plain list of numbers. Anything it cannot evaluate is null, and the importer names the node.
/// </summary>
internal static class OnnxConstants
{
    /// <summary>Largest tensor folded: shape arithmetic is tiny; weights transposed on the way to a MatMul are not.</summary>
    public const long MaxValues = 1L << 26;

    public static readonly IReadOnlyList<string> Ops =
        ["Add", "Sub", "Mul", "Div", "Max", "Min", "Neg", "Abs", "Floor", "Ceil", "Sqrt", "Cast", "Shape", "Gather", "Unsqueeze", "Squeeze",
         "Reshape", "Flatten", "Concat", "Slice", "Transpose", "ConstantOfShape", "Range", "Identity"];

    public static long Bounded(long[] dims)
    {
        if (dims.Any(d => d < 0)) throw new ArgumentException($"dims [{string.Join(", ", dims)}]");
        long n = 1;
        foreach (var d in dims) if ((n *= d) > MaxValues) throw new ArgumentException($"more than {MaxValues:N0} values");
        return n;
    }

    /// <summary>The node's output, or null when SpecNet cannot evaluate it; ArgumentException for inputs that make no sense.</summary>
    public static ConstantTensor? Fold(OnnxNode node, IReadOnlyList<ConstantTensor?> inputs, long opset)
    {
        ConstantTensor In(int i) => i < inputs.Count && inputs[i] is { } t ? t : throw new ArgumentException($"input {i + 1} is missing");
        long[]? IntsIn(int i) => i < inputs.Count && inputs[i] is { } t ? t.Ints ?? t.Floats!.Select(v => (long)v).ToArray() : null;
        switch (node.Op)
        {
            case "Identity": return In(0);
            case "Add" or "Sub" or "Mul" or "Div" or "Max" or "Min":
                var result = In(0);
                for (int i = 1; i < inputs.Count; i++) result = Binary(node.Op, result, In(i));
                return result;
            case "Neg": return Unary(In(0), v => -v);
            case "Abs": return Unary(In(0), Math.Abs);
            case "Floor": return Unary(In(0), Math.Floor);
            case "Ceil": return Unary(In(0), Math.Ceiling);
            case "Sqrt": return Unary(In(0), Math.Sqrt);
            case "Cast":
            {
                var x = In(0);
                return node.Int("to", 1) switch
                {
                    1 or 10 or 11 => new(x.Dims, x.Floats ?? x.Ints!.Select(v => (float)v).ToArray(), null),
                    6 or 7 or 9 or 12 or 13 => new(x.Dims, null, x.Ints ?? x.Floats!.Select(v => (long)Math.Truncate(v)).ToArray()),
                    _ => null,
                };
            }
            case "Shape":
            {
                var dims = In(0).Dims;
                long start = node.Int("start", 0), end = node.Int("end", dims.Length);
                start = Math.Clamp(start < 0 ? start + dims.Length : start, 0, dims.Length);
                end = Math.Clamp(end < 0 ? end + dims.Length : end, 0, dims.Length);
                return ConstantTensor.Integers(dims[(int)start..(int)Math.Max(start, end)]);
            }
            case "Gather": return Gather(In(0), In(1), node.Int("axis", 0));
            case "Unsqueeze":
            {
                var x = In(0);
                var axes = (opset >= 13 ? IntsIn(1) : node.Ints("axes")) ?? throw new ArgumentException("no axes");
                int rank = x.Dims.Length + axes.Length;
                var normal = axes.Select(a => a < 0 ? a + rank : a).ToHashSet();
                var dims = new List<long>();
                int k = 0;
                for (int d = 0; d < rank; d++) dims.Add(normal.Contains(d) ? 1 : x.Dims[k++]);
                return x.WithDims([.. dims]);
            }
            case "Squeeze":
            {
                var x = In(0);
                var axes = (opset >= 13 ? IntsIn(1) : node.Ints("axes"))?.Select(a => a < 0 ? a + x.Dims.Length : a).ToHashSet();
                return x.WithDims(x.Dims.Where((d, i) => axes is null ? d != 1 : !axes.Contains(i)).ToArray());
            }
            case "Reshape":
            {
                var x = In(0);
                var target = IntsIn(1) ?? throw new ArgumentException("no shape");
                var dims = target.Select((d, i) => d == 0 && node.Int("allowzero", 0) == 0 ? x.Dims[i] : d).ToArray();
                int unknown = Array.IndexOf(dims, -1L);
                if (unknown >= 0)
                {
                    long known = dims.Where((d, i) => i != unknown).Aggregate(1L, (a, b) => a * b);
                    dims[unknown] = known == 0 ? 0 : x.Count / known;
                }
                return ConstantTensor.CountOf(dims) == x.Count && dims.All(d => d >= 0) ? x.WithDims(dims) : throw new ArgumentException($"a reshape to [{string.Join(", ", target)}]");
            }
            case "Flatten":
            {
                var x = In(0);
                long axis = node.Int("axis", 1);
                if (axis < 0) axis += x.Dims.Length;
                return x.WithDims([ConstantTensor.CountOf(x.Dims[..(int)axis]), ConstantTensor.CountOf(x.Dims[(int)axis..])]);
            }
            case "Concat": return Concat(inputs.Select((_, i) => In(i)).ToList(), node.Int("axis", 0));
            case "Slice":
                return opset >= 10
                    ? Slice(In(0), IntsIn(1)!, IntsIn(2)!, IntsIn(3), IntsIn(4))
                    : Slice(In(0), node.Ints("starts")!, node.Ints("ends")!, node.Ints("axes"), null);
            case "Transpose":
            {
                var x = In(0);
                var perm = node.Ints("perm") ?? Enumerable.Range(0, x.Dims.Length).Reverse().Select(i => (long)i).ToArray();
                return Transpose(x, perm);
            }
            case "ConstantOfShape":
            {
                var dims = IntsIn(0) ?? throw new ArgumentException("no shape");
                var value = node.Attributes.TryGetValue("value", out var a) && a.Tensor is { } t ? ConstantTensor.Of(t) : new ConstantTensor([1], [0f], null);
                return value.Select(dims, _ => 0);
            }
            case "Range":
            {
                double start = In(0).At(0), limit = In(1).At(0), delta = In(2).At(0);
                if (delta == 0) throw new ArgumentException("a delta of 0");
                long n = Math.Max((long)Math.Ceiling((limit - start) / delta), 0);
                Bounded([n]);
                return In(0).IsFloat
                    ? new([n], Enumerable.Range(0, (int)n).Select(i => (float)(start + i * delta)).ToArray(), null)
                    : new([n], null, Enumerable.Range(0, (int)n).Select(i => (long)(start + i * delta)).ToArray());
            }
            default: return null;
        }
    }

    private static ConstantTensor Unary(ConstantTensor x, Func<double, double> f) =>
        x.IsFloat ? x with { Floats = x.Floats!.Select(v => (float)f(v)).ToArray() } : x with { Ints = x.Ints!.Select(v => (long)f(v)).ToArray() };

    /// <summary>Elementwise with NumPy broadcasting; integer division truncates (as ONNX Runtime's).</summary>
    private static ConstantTensor Binary(string op, ConstantTensor a, ConstantTensor b)
    {
        int rank = Math.Max(a.Dims.Length, b.Dims.Length);
        long[] Pad(long[] d) => [.. Enumerable.Repeat(1L, rank - d.Length), .. d];
        long[] da = Pad(a.Dims), db = Pad(b.Dims);
        var dims = new long[rank];
        for (int i = 0; i < rank; i++)
            dims[i] = da[i] == db[i] || db[i] == 1 ? da[i] : da[i] == 1 ? db[i] : throw new ArgumentException($"dims [{string.Join(", ", a.Dims)}] and [{string.Join(", ", b.Dims)}] do not broadcast");
        long n = Bounded(dims);
        long Source(long i, long[] d)
        {
            long index = 0, stride = 1;
            for (int k = rank - 1; k >= 0; k--)
            {
                long coordinate = i % dims[k];
                i /= dims[k];
                if (d[k] != 1) index += coordinate * stride;
                stride *= d[k];
            }
            return index;
        }
        bool floats = a.IsFloat || b.IsFloat;
        var values = new double[n];
        for (long i = 0; i < n; i++)
        {
            double x = a.At(Source(i, da)), y = b.At(Source(i, db));
            values[i] = op switch
            {
                "Add" => x + y, "Sub" => x - y, "Mul" => x * y,
                "Div" => floats ? x / y : y == 0 ? throw new ArgumentException("an integer division by zero") : Math.Truncate(x / y),
                "Max" => Math.Max(x, y), _ => Math.Min(x, y),
            };
        }
        return floats ? new(dims, values.Select(v => (float)v).ToArray(), null) : new(dims, null, values.Select(v => (long)v).ToArray());
    }

    private static long[] Strides(long[] dims)
    {
        var s = new long[dims.Length];
        long stride = 1;
        for (int k = dims.Length - 1; k >= 0; k--) { s[k] = stride; stride *= dims[k]; }
        return s;
    }

    private static int Axis(long axis, int rank) =>
        (int)(axis < 0 ? axis + rank : axis) is var a && a >= 0 && a < Math.Max(rank, 1) ? a : throw new ArgumentException($"axis {axis} of a rank-{rank} tensor");

    private static ConstantTensor Gather(ConstantTensor data, ConstantTensor indices, long axisAttr)
    {
        int axis = Axis(axisAttr, data.Dims.Length);
        var index = indices.Ints ?? throw new ArgumentException("float indices");
        long size = data.Dims[axis];
        long[] dims = [.. data.Dims[..axis], .. indices.Dims, .. data.Dims[(axis + 1)..]];
        long inner = ConstantTensor.CountOf(data.Dims[(axis + 1)..]), count = index.Length;
        foreach (var i in index) if (i < -size || i >= size) throw new ArgumentException($"index {i} of a dimension of {size}");
        return data.Select(dims, o =>
        {
            long within = o % inner, rest = o / inner, k = rest % count, outer = rest / count;
            long i = index[k] < 0 ? index[k] + size : index[k];
            return (outer * size + i) * inner + within;
        });
    }

    private static ConstantTensor Concat(List<ConstantTensor> parts, long axisAttr)
    {
        int rank = parts[0].Dims.Length, axis = Axis(axisAttr, rank);
        if (parts.Any(p => p.Dims.Length != rank || p.IsFloat != parts[0].IsFloat || !p.Dims.Where((d, i) => i != axis).SequenceEqual(parts[0].Dims.Where((d, i) => i != axis))))
            throw new ArgumentException("parts of different shapes or types");
        var dims = (long[])parts[0].Dims.Clone();
        dims[axis] = parts.Sum(p => p.Dims[axis]);
        long inner = ConstantTensor.CountOf(dims[(axis + 1)..]);
        long n = Bounded(dims);
        var floats = parts[0].IsFloat ? new float[n] : null;
        var ints = parts[0].IsFloat ? null : new long[n];
        long outer = ConstantTensor.CountOf(dims[..axis]), at = 0;
        for (long o = 0; o < outer; o++)
            foreach (var p in parts)
            {
                long block = p.Dims[axis] * inner;
                for (long i = 0; i < block; i++, at++)
                    if (floats is not null) floats[at] = p.Floats![o * block + i]; else ints![at] = p.Ints![o * block + i];
            }
        return new(dims, floats, ints);
    }

    /// <summary>ONNX Slice: per axis, start/end clamped to the dimension (negative counts from the end), any step but 0.</summary>
    private static ConstantTensor Slice(ConstantTensor x, long[] starts, long[] ends, long[]? axes, long[]? steps)
    {
        int rank = x.Dims.Length;
        var first = new long[rank];
        var step = Enumerable.Repeat(1L, rank).ToArray();
        var dims = (long[])x.Dims.Clone();
        for (int k = 0; k < starts.Length; k++)
        {
            int axis = Axis(axes?[k] ?? k, rank);
            long size = x.Dims[axis], s = steps?[k] ?? 1;
            if (s == 0) throw new ArgumentException("a step of 0");
            long start = starts[k] < 0 ? starts[k] + size : starts[k], end = ends[k] < 0 ? ends[k] + size : ends[k];
            if (s > 0) { start = Math.Clamp(start, 0, size); end = Math.Clamp(end, 0, size); dims[axis] = Math.Max(0, (end - start + s - 1) / s); }
            else { start = Math.Clamp(start, -1, size - 1); end = Math.Clamp(end, -1, size - 1); dims[axis] = Math.Max(0, (start - end - s - 1) / -s); }
            (first[axis], step[axis]) = (start, s);
        }
        var strides = Strides(x.Dims);
        return View(x, dims, Enumerable.Range(0, rank).Sum(k => first[k] * strides[k]), Enumerable.Range(0, rank).Select(k => step[k] * strides[k]).ToArray());
    }

    private static ConstantTensor Transpose(ConstantTensor x, long[] perm)
    {
        int rank = x.Dims.Length;
        if (perm.Length != rank || perm.Order().Select((p, i) => p == i).Any(same => !same)) throw new ArgumentException($"perm [{string.Join(", ", perm)}]");
        var dims = perm.Select(p => x.Dims[p]).ToArray();
        var strides = Strides(x.Dims);
        return View(x, dims, 0, perm.Select(p => strides[p]).ToArray());
    }

    /// <summary>x through a strided view (Slice, Transpose): the output element at coordinates c of dims reads x at start + Σ c[k]·steps[k].</summary>
    private static ConstantTensor View(ConstantTensor x, long[] dims, long start, long[] steps) => x.Select(dims, o =>
    {
        long source = start;
        for (int k = dims.Length - 1; k >= 0; k--)
        {
            source += o % dims[k] * steps[k];
            o /= dims[k];
        }
        return source;
    });
}
