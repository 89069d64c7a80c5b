using System.Globalization;
using System.Text;
using SpecNet.Checking;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Training;

namespace SpecNet.Tests.Planning;

/// <summary>
/// Random models, of the shapes users write after the tutorial, run on each backend to the reference's results.
/// The managed backend takes a different path for many layouts (Winograd, gathered GEMMs, spread depthwise, fused stages,
/// sliced and single-image inference); a path that a layout picks wrongly shows up here as a model whose outputs or
/// gradients differ from the readable loops'. Seeded and reproducible: a failure names its seed and spec, and
/// SPECNET_RANDOM_MODELS=N runs N models from SPECNET_RANDOM_SEED (150 from 1 unless set; about 20 s).
/// </summary>
public class RandomModelTests
{
    private static readonly int Count = int.TryParse(Environment.GetEnvironmentVariable("SPECNET_RANDOM_MODELS"), out var n) ? n : 150;
    private static readonly int FirstSeed = int.TryParse(Environment.GetEnvironmentVariable("SPECNET_RANDOM_SEED"), out var s) ? s : 1;

    /// <summary>The managed backend over many models; MathNet and MKL (their GEMMs under the same layers) over a few.</summary>
    [SkippableTheory]
    [InlineData("managed", 1)]
    [InlineData("mathnet", 6)]
    [InlineData("mkl", 6)]
    public void Random_models_train_and_infer_on_each_backend_as_on_the_reference(string backend, int share)
    {
        _ = Optional.Backend(backend, threads: 1);
        var failures = new List<string>();
        for (int seed = FirstSeed; seed < FirstSeed + Count / share && failures.Count < 3; seed++)
        {
            var text = RandomSpec.Write(seed);
            try { Compare(seed, text, threads => Backends.Create(backend, threads: threads)); }
            catch (Exception e)
            {
                failures.Add($"seed {seed}: {(e is Xunit.Sdk.XunitException ? e.Message : e.ToString())}\n{text}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    /// <summary>
    /// Models whose sums' rounding alone moves a gradient far (<see cref="JitteredReference"/>): three take a max pooling's near
    /// tie the other way on the managed backend, one rounds a long weight-gradient sum far on MathNet and MKL. Each had failed
    /// the comparison while only the nudges measured how far tensors move.
    /// </summary>
    [SkippableTheory]
    [InlineData(43287, "managed")]
    [InlineData(90235, "managed")]
    [InlineData(110423, "managed")]
    [InlineData(90246, "mathnet")]
    [InlineData(90246, "mkl")]
    public void Models_whose_rounding_takes_a_near_tie_the_other_way_match_the_reference(int seed, string backend)
    {
        _ = Optional.Backend(backend, threads: 1);
        Compare(seed, RandomSpec.Write(seed), threads => Backends.Create(backend, threads: threads));
    }

    /// <summary>Random models exported to ONNX and run in ONNX Runtime, against SpecNet's forward pass (a third as many).</summary>
    [Fact]
    public void Random_models_export_to_onnx_and_match_onnx_runtime()
    {
        var failures = new List<string>();
        for (int seed = FirstSeed; seed < FirstSeed + Count / 3 && failures.Count < 3; seed++)
        {
            var text = RandomSpec.Write(seed);
            try
            {
                var model = SpecCompiler.Compile(text, $"random-{seed}.yaml").Model!;
                var parameters = Parameters(model, seed);
                var check = SpecNet.Cli.OnnxRuntimeCheck.Run(model, parameters, SpecNet.Formats.OnnxExport.Build(model, parameters), examples: 3, seed: seed);
                if (!check.Passed) failures.Add($"seed {seed}: largest difference {check.MaxDifference}, {check.SameClass} of {check.Examples} in the same class\n{text}");
            }
            catch (Exception e)
            {
                failures.Add($"seed {seed}: {e}\n{text}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    [Fact]
    public void The_generator_writes_every_kind_of_layer_and_block()
    {
        var text = string.Concat(Enumerable.Range(1, 200).Select(RandomSpec.Write));
        foreach (var kind in SpecNet.Layers.LayerRegistry.Names.Append("residual").Append("parallel"))
            Assert.Matches($@"\b{kind}\b", text);
        Assert.Contains("trainable: false", text);
        Assert.Contains("inputs: [skip_", text);
    }

    private static void Compare(int seed, string text, Func<int, Backend> backend)
    {
        var compiled = SpecCompiler.Compile(text, $"random-{seed}.yaml");
        Assert.True(compiled.Success, compiled.Render());
        var model = compiled.Model!;
        var rng = new Random(seed);
        int batch = rng.Next(4) switch { 0 => 1, 1 => 2 + rng.Next(6), 2 => 16 + rng.Next(20), _ => 40 + rng.Next(30) };
        int threads = 1 + rng.Next(2);
        var input = new float[batch * model.Input.Size];
        var data = new Rng((ulong)seed);
        for (int i = 0; i < input.Length; i++) input[i] = data.NextFloat() * 2 - 1;
        var labels = Enumerable.Range(0, batch).Select(i => (i * 7 + seed) % model.Output.Size).ToArray();
        bool inputGradient = rng.Next(2) == 0;

        // one training step: outputs, the loss's gradient back through every layer, each parameter's gradient; with the
        // input and every parameter moved by up to a relative 1e-4 when `nudge` is given
        float[][] Train(Backend kernels, int nudge = 0)
        {
            var parameters = Parameters(model, seed);
            var plan = new ExecutionPlan(model, parameters, kernels, batch, seed, inputGradient, keepEveryActivation: kernels.Reference);
            input.CopyTo(plan.Input);
            if (nudge > 0)
            {
                // nudges 1 and 2 the same noise with opposite signs: a value within rounding of a kink then lands on its other
                // side in one of them, whichever side the reference is on
                var noise = new Rng((ulong)(nudge + 1) / 2);
                float sign = nudge % 2 == 1 ? 1 : -1;
                foreach (var slot in parameters.Slots) Nudge(slot.Value, noise, sign);
                Nudge(plan.Input[..input.Length], noise, sign);
            }
            plan.Forward(batch, training: true);
            var loss = Loss.For(model.Training.Loss, model.FinalActivation);
            loss.Compute(plan.Output, labels, batch, plan.OutputGradient);
            plan.Backward(loss.Fused);
            return [plan.Output.ToArray(), .. inputGradient ? [plan.InputGradient.ToArray()] : Array.Empty<float[]>(),
                .. parameters.Trainable.Select(p => p.Grad!.ToArray())];
        }
        var names = new[] { "output" }.Concat(inputGradient ? ["input gradient"] : Array.Empty<string>())
            .Concat(Parameters(model, seed).Trainable.Select(p => $"gradient of {p.Layer.Name}.{p.Spec.Suffix}")).ToArray();
        var reference = Train(new ReferenceBackend());
        var sensitivity = Sensitivity(reference, Train(new ReferenceBackend(), nudge: 1), Train(new ReferenceBackend(), nudge: 2), Train(new ReferenceBackend(), nudge: 3));
        var trained = Train(backend(threads));
        string training = $"training on {threads} thread(s), batch {batch}";
        try { Near(training, names, reference, trained, sensitivity); }
        catch (Xunit.Sdk.XunitException)
        {
            // the sums' own rounding measured only here: the same verdict as measuring it for every model, at two runs fewer
            var rounding = Sensitivity(reference, Train(new JitteredReference(+1)), Train(new JitteredReference(-1)));
            Near(training, names, reference, trained, sensitivity.Zip(rounding, Math.Max).ToArray());
        }

        // inference the way eval and predict run it (fused stages; sliced over threads for large batches, one image apart),
        // against the reference's layers one at a time
        float[] Infer(int capacity, int count)
        {
            var plan = new CpuEngine(backend(threads)).Plan(model, Parameters(model, seed), capacity, PlanOptions.Serving);
            input.AsSpan(0, count * model.Input.Size).CopyTo(plan.Input);
            return plan.Forward(count, training: false).ToArray();
        }
        float[] Expected(int count)
        {
            var plan = new ExecutionPlan(model, Parameters(model, seed), new ReferenceBackend(), count, trainable: false, keepEveryActivation: true);
            input.AsSpan(0, count * model.Input.Size).CopyTo(plan.Input);
            return plan.Forward(count, training: false).ToArray();
        }
        int capacity = batch == 1 ? 1 : batch + rng.Next(3);
        Near($"inference on {threads} thread(s), batch {batch} of {capacity}", ["output"], [Expected(batch)], [Infer(capacity, batch)], [0]);   // no backward, whose kinks the nudges measure
        if (batch > 1) Near($"one image on {threads} thread(s)", ["output"], [Expected(1)], [Infer(1, 1)], [0]);
    }

    /// <summary>
    /// The reference's GEMM with each sum moved by up to 7e-8·√k of its k terms' magnitudes added up: about as far as float sums
    /// in another order round (half an ulp a term, as a random walk). The nudges alone had moved a max pooling's two nearest
    /// candidates together where the values had come through saturated activations (seeds 43287, 90235 and 110423: candidates
    /// 6e-8 to 3e-7 apart, the managed backend taking the other), and had not shown how far MathNet's long sums round in a
    /// first convolution's weight gradient (90246). Moving each sum on its own, by the same noise with opposite signs in two
    /// runs, takes such a tie's other branch in one of them, as another backend's rounding may.
    /// </summary>
    private sealed class JitteredReference(float sign) : ReferenceBackend
    {
        private readonly Rng _noise = new(2026);

        public override string Name => "reference, jittered";

        public override void Gemm(Op opA, Op opB, int m, int n, int k,
            ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            base.Gemm(opA, opB, m, n, k, a, lda, b, ldb, beta, c, ldc);
            var size = new float[m * n];   // Σ |a_ip·b_jp|: the same sums of the magnitudes
            base.Gemm(opA, opB, m, n, k, Magnitudes(a), lda, Magnitudes(b), ldb, 0, size, n);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) c[i * ldc + j] += (float)(sign * 7e-8 * Math.Sqrt(k) * size[i * n + j] * (2 * _noise.NextFloat() - 1));
        }

        private static float[] Magnitudes(ReadOnlySpan<float> values)
        {
            var magnitudes = values.ToArray();
            for (int i = 0; i < magnitudes.Length; i++) magnitudes[i] = Math.Abs(magnitudes[i]);
            return magnitudes;
        }
    }

    private static void Nudge(Span<float> values, Rng noise, float sign)
    {
        for (int i = 0; i < values.Length; i++) values[i] *= 1 + sign * 1e-4f * (2 * noise.NextFloat() - 1);
    }

    private static ParameterSet Parameters(ModelSpec model, int seed) => Formats.OnnxExportTests.Randomized(model, seed);

    /// <summary>
    /// How far each tensor moves, at most, when the input and parameters move by up to a relative 1e-4, three times over (the
    /// first two by the same noise, one added and one taken away), and when the sums themselves move by about their rounding
    /// (<see cref="JitteredReference"/>, twice, where a tensor differs by more than the nudges allow): the nudges move tensors
    /// far more than the float rounding that sums in another order cause. Most tensors move about 1e-4 of their largest value, some far
    /// more, and another order of sums may move them as far: a relu or max pool whose argument sits within rounding of its kink
    /// takes the other branch (a nudge this size takes many such branches, so it shows how far one moves the tensor); a gradient
    /// that is zero but for rounding (a bias before a batch norm); a batch norm over values that hardly vary, whose backward
    /// subtracts nearly equal sums.
    /// </summary>
    private static double[] Sensitivity(float[][] reference, params float[][][] nudged) =>
        reference.Select((r, t) => nudged.Max(n => r.Zip(n[t], (a, b) => Math.Abs((double)a - b)).DefaultIfEmpty().Max())).ToArray();

    /// <summary>
    /// Within a tolerance scaled to each tensor: sums in another order (Winograd's transforms, GEMM blocking, threads' partial
    /// sums) round differently. A tensor that moves far when its inputs are nudged (<see cref="Sensitivity"/>) may differ
    /// by ten times as much; a wrong path differs by far more, and in the tensors that barely move.
    /// </summary>
    private static void Near(string what, string[] names, float[][] expected, float[][] actual, double[] sensitivity)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int t = 0; t < expected.Length; t++)
        {
            Assert.Equal(expected[t].Length, actual[t].Length);
            double scale = expected[t].Length == 0 ? 0 : expected[t].Max(v => Math.Abs((double)v));
            double moves = sensitivity[t], allowed = 2e-4 * scale + 10 * moves + 1e-7;
            for (int i = 0; i < expected[t].Length; i++)
            {
                double e = expected[t][i], a = actual[t][i];
                if (!(Math.Abs(a - e) <= 1e-3 * Math.Abs(e) + allowed))
                    throw new Xunit.Sdk.XunitException($"{what}: {names[t]}[{i}] = {a}, reference {e} (largest {scale}{(moves > 0 ? $", moves {moves:E2} when nudged" : "")})");
            }
        }
    }
}

/// <summary>
/// Writes a random valid model spec: a few stages of convolutions (dense, grouped, depthwise, separable, strided, dilated,
/// bordered; conv + batch_norm + activation units), pooling, zero padding, normalisation, activations and dropout, then a
/// block (residual, parallel, a squeeze-and-excitation gate, a named skip); frozen layers here and there; then a head. Sizes
/// stay small enough for the reference backend's loops.
/// </summary>
internal sealed class RandomSpec
{
    private static readonly string[] Activations = ["relu", "linear", "tanh", "sigmoid", "gelu", "silu", "elu", "leaky_relu", "relu6", "hard_sigmoid", "hard_swish", "softmax"];
    private static readonly string[] ActivationLayers = ["relu", "tanh", "sigmoid", "gelu", "silu", "elu", "leaky_relu", "relu6", "hard_sigmoid", "hard_swish", "softmax"];

    private readonly Random _rng;
    private readonly StringBuilder _text = new();
    private int _h, _w, _c, _names;

    private RandomSpec(int seed) => _rng = new Random(seed);

    public static string Write(int seed) => new RandomSpec(seed).Spec();

    private string Spec()
    {
        _h = _rng.Next(8) == 0 ? 25 + _rng.Next(16) : 1 + _rng.Next(24);   // now and then a map as large as the datasets' (one image's rows split between threads)
        _w = _rng.Next(3) == 0 ? _h : _h > 24 ? 25 + _rng.Next(16) : 1 + _rng.Next(24);
        _c = Pick(1, 1, 3, 2 + _rng.Next(20));
        _text.Append(Inv($"name: random\ninput: {{ shape: [{_h}, {_w}, {_c}] }}\nlayers:\n"));
        int stages = 1 + _rng.Next(4);
        for (int i = 0; i < stages; i++) Stage("  ");
        switch (_rng.Next(3))
        {
            case 0: Line("  ", "flatten"); break;
            case 1: Line("  ", "global_avg_pool2d"); break;
            default: Line("  ", "global_max_pool2d"); break;
        }
        if (_rng.Next(2) == 0 && 1 + _rng.Next(40) is var hidden) Line("  ", Inv($"dense: {{ units: {hidden}, activation: {ActivationOver(hidden)}{Frozen()} }}"));
        if (_rng.Next(3) == 0) Line("  ", Inv($"dropout: {{ rate: {0.1 + 0.4 * _rng.NextDouble():F2} }}"));
        if (_rng.Next(4) == 0) Line("  ", "batch_norm");
        bool classify = _rng.Next(3) > 0;
        int units = 2 + _rng.Next(11);
        Line("  ", Inv($"dense: {{ units: {units}, activation: {(classify ? "softmax" : Pick("linear", "sigmoid", "tanh"))} }}"));
        _text.Append(Inv($"training: {{ loss: {(classify ? "categorical_crossentropy" : "mse")} }}\n"));
        return _text.ToString();
    }

    /// <summary>A few layers over the current map, then maybe a block.</summary>
    private void Stage(string indent)
    {
        for (int n = 1 + _rng.Next(3); n > 0; n--) Layer(indent, allowShrink: true);
        switch (_rng.Next(6))
        {
            case 0: Residual(indent); break;
            case 1: Parallel(indent); break;
            case 2: Gate(indent); break;
            case 3: Skip(indent); break;
        }
    }

    private void Layer(string indent, bool allowShrink)
    {
        switch (_rng.Next(allowShrink ? 13 : 9))
        {
            case 0: case 1: case 2: Convolution(indent, allowShrink); break;
            case 3: Depthwise(indent, allowShrink, separable: false); break;
            case 4: Depthwise(indent, allowShrink, separable: true); break;
            case 5: Line(indent, _rng.Next(2) == 0 ? "batch_norm" : Pick("layer_norm", "batch_norm: { momentum: 0.9 }", "layer_norm: { epsilon: 0.01 }", "batch_norm: { trainable: false }")); break;
            case 6: Line(indent, (Pick(ActivationLayers) is var a && a == "softmax" && _c < 2 ? "tanh" : a) switch { "leaky_relu" => "leaky_relu: { alpha: 0.2 }", "elu" => "elu: { alpha: 0.5 }", var k => k }); break;
            case 7: Line(indent, "activation: { activation: " + ActivationOver(_c) + " }"); break;
            case 8: Line(indent, Inv($"dropout: {{ rate: {0.1 + 0.4 * _rng.NextDouble():F2} }}")); break;
            case 9: case 10: Pool(indent); break;
            case 11: Padding(indent); break;
            default: Convolution(indent, allowShrink); break;
        }
    }

    private void Convolution(string indent, bool allowShrink)
    {
        // now and then two 512-bit panels of filters and a part one: a small map's single image then runs in the GEMM's tiles
        int filters = allowShrink ? (_rng.Next(10) == 0 ? 72 : Pick(8, 16, 24, 32, 1 + _rng.Next(40))) : _c;
        int groups = 1;
        if (_rng.Next(4) == 0)
        {
            var common = Enumerable.Range(2, 15).Where(g => _c % g == 0 && filters % g == 0).ToArray();
            if (common.Length > 0) groups = common[_rng.Next(common.Length)];
        }
        var (geometry, h, w) = Window(allowShrink, Pick(1, 3, 3, 3, 5, 2));
        _h = h; _w = w; _c = filters;
        // half the time ResNet's and MobileNet's unit, which the plans fuse: conv, batch_norm, an activation, maybe a max pooling
        bool unit = _rng.Next(2) == 0;
        Line(indent, Inv($"conv2d: {{ filters: {filters}, {geometry}{(groups > 1 ? $", groups: {groups}" : "")}, activation: {(unit ? "linear" : ActivationOver(filters))}, use_bias: {(_rng.Next(3) > 0 ? "true" : "false")}{Frozen()} }}"));
        if (!unit) return;
        Line(indent, Pick("batch_norm", "batch_norm", "batch_norm: { momentum: 0.9 }", "batch_norm: { trainable: false }"));
        if (_rng.Next(4) > 0) Line(indent, Pick("relu", "relu", "relu6", "hard_swish", "silu", "leaky_relu"));
        if (allowShrink && _rng.Next(4) == 0) Pool(indent);
    }

    private void Depthwise(string indent, bool allowShrink, bool separable)
    {
        int multiplier = Pick(1, 1, 2, 3);
        var (geometry, h, w) = Window(allowShrink, Pick(3, 3, 5, 7, 2));
        string bias = _rng.Next(3) > 0 ? "true" : "false";
        if (separable)
        {
            int filters = allowShrink ? Pick(8, 16, 1 + _rng.Next(40)) : _c;
            Line(indent, Inv($"separable_conv2d: {{ filters: {filters}, {geometry}, depth_multiplier: {multiplier}, activation: {ActivationOver(filters)}, use_bias: {bias}{Frozen()} }}"));
            _c = filters;
        }
        else
        {
            if (!allowShrink) multiplier = 1;
            Line(indent, Inv($"depthwise_conv2d: {{ {geometry}, depth_multiplier: {multiplier}, activation: {ActivationOver(_c * multiplier)}, use_bias: {bias}{Frozen()} }}"));
            _c *= multiplier;
        }
        _h = h; _w = w;
    }

    /// <summary>A kernel, strides or dilation, and padding that fit the current map; 'same' at stride 1 where the size must stay.</summary>
    private (string Geometry, int H, int W) Window(bool allowShrink, int k)
    {
        int kh = k, kw = _rng.Next(5) == 0 ? Pick(1, 2, 3) : k;
        int stride = allowShrink && _rng.Next(3) == 0 ? Pick(2, 2, 3) : 1;
        int dilation = stride == 1 && kh > 1 && _rng.Next(5) == 0 ? 2 : 1;
        bool same = !allowShrink || _rng.Next(2) == 0;
        int spanH = dilation * (kh - 1) + 1, spanW = dilation * (kw - 1) + 1;
        if (!same && (spanH > _h || spanW > _w)) same = true;
        if (same && !allowShrink) stride = 1;
        int h = same ? (_h + stride - 1) / stride : (_h - spanH) / stride + 1;
        int w = same ? (_w + stride - 1) / stride : (_w - spanW) / stride + 1;
        string size = kh == kw ? $"{kh}" : $"[{kh}, {kw}]";
        var g = $"kernel_size: {size}{(stride > 1 ? $", strides: {stride}" : "")}{(dilation > 1 ? $", dilation_rate: {dilation}" : "")}{(same ? ", padding: same" : "")}";
        return (g, h, w);
    }

    private void Pool(string indent)
    {
        string kind = Pick("max_pool2d", "max_pool2d", "avg_pool2d");
        int size = Pick(2, 2, 3), stride = Pick(size, size, 1, 2);
        bool same = _rng.Next(2) == 0 || size > _h || size > _w;
        _h = same ? (_h + stride - 1) / stride : (_h - size) / stride + 1;
        _w = same ? (_w + stride - 1) / stride : (_w - size) / stride + 1;
        Line(indent, Inv($"{kind}: {{ pool_size: {size}{(stride != size ? $", strides: {stride}" : "")}{(same ? ", padding: same" : "")} }}"));
    }

    private void Padding(string indent)
    {
        int t = _rng.Next(3), b = _rng.Next(3), l = _rng.Next(3), r = _rng.Next(3);
        _h += t + b; _w += l + r;
        Line(indent, Inv($"zero_padding2d: {{ padding: [[{t}, {b}], [{l}, {r}]] }}"));
    }

    /// <summary>activation(layers(x) + shortcut(x)): the main path keeps the size or strides by 2 with a 1x1 shortcut.</summary>
    private void Residual(string indent)
    {
        int c = _c, h = _h, w = _w;
        bool down = _h > 3 && _w > 3 && _rng.Next(3) == 0;
        int filters = down ? Pick(c, 2 * c, 16) : c;
        Line(indent, "residual:");
        Key(indent + "    ", "layers:");
        string inner = indent + "      ";
        Line(inner, Inv($"conv2d: {{ filters: {filters}, kernel_size: 3{(down ? ", strides: 2" : "")}, padding: same, use_bias: false }}"));
        _c = filters; _h = down ? (h + 1) / 2 : h; _w = down ? (w + 1) / 2 : w;
        if (_rng.Next(2) == 0) Line(inner, "batch_norm");
        for (int n = _rng.Next(3); n > 0; n--) Layer(inner, allowShrink: false);
        if (down || _rng.Next(4) == 0)
        {
            Key(indent + "    ", "shortcut:");
            Line(inner, Inv($"conv2d: {{ filters: {filters}, kernel_size: 1{(down ? ", strides: 2" : "")}, use_bias: false }}"));
            if (_rng.Next(2) == 0) Line(inner, "batch_norm");
        }
        if (_rng.Next(2) == 0) Key(indent + "    ", "activation: " + ActivationOver(_c));
        if (!down && _rng.Next(4) == 0) Key(indent + "    ", "repeat: 2");
    }

    /// <summary>Branches over the same input, joined by concatenation (any channels) or an elementwise merge (equal channels).</summary>
    private void Parallel(string indent)
    {
        int c = _c;
        string merge = Pick("concatenate", "concatenate", "add", "subtract", "multiply", "average", "maximum", "minimum");
        int branches = merge == "subtract" ? 2 : 2 + _rng.Next(2);
        int total = 0;
        Line(indent, "parallel:");
        Key(indent + "    ", "branches:");
        for (int b = 0; b < branches; b++)
        {
            _c = c;
            if (b == 0 && _rng.Next(3) == 0) { Key(indent + "      ", "- []"); total += c; continue; }
            int f = merge == "concatenate" ? 1 + _rng.Next(20) : c;
            string first = Inv($"conv2d: {{ filters: {f}, kernel_size: {Pick(1, 3)}, padding: same, activation: {ActivationOver(f)} }}");
            Key(indent + "      ", "- - " + first);
            _c = f;
            for (int n = _rng.Next(2); n > 0; n--) Layer(indent + "        ", allowShrink: false);
            total += _c;
        }
        Key(indent + "    ", "merge: " + merge);
        _c = merge == "concatenate" ? total : c;
    }

    /// <summary>A connection past a few layers that keep the size: the earlier tensor named, then joined to the later by name.</summary>
    private void Skip(string indent)
    {
        string name = $"skip_{++_names}";
        Line(indent, Inv($"{Pick("relu", "tanh", "silu", "hard_swish", "sigmoid")}: {{ name: {name} }}"));
        int c = _c;
        for (int n = 1 + _rng.Next(2); n > 0; n--) Layer(indent, allowShrink: false);
        string merge = Pick("concatenate", "add", "subtract", "multiply", "average", "maximum", "minimum");
        Line(indent, Inv($"{merge}: {{ inputs: [{name}, previous] }}"));
        if (merge == "concatenate") _c += c;
    }

    /// <summary>Sometimes a frozen layer, as in fine-tuning: no gradient for its parameters, but one through it.</summary>
    private string Frozen() => _rng.Next(8) == 0 ? ", trainable: false" : "";

    /// <summary>MobileNet's squeeze and excitation: a gate per channel from the pooled map scales the map.</summary>
    private void Gate(string indent)
    {
        string name = $"gated_{++_names}";
        Line(indent, Inv($"batch_norm: {{ name: {name} }}"));
        Line(indent, "global_avg_pool2d");
        Line(indent, Inv($"dense: {{ units: {1 + _rng.Next(12)}, activation: relu }}"));
        Line(indent, Inv($"dense: {{ units: {_c}, activation: {Pick("hard_sigmoid", "sigmoid")} }}"));
        Line(indent, Inv($"multiply: {{ inputs: [{name}, previous] }}"));
    }

    /// <summary>A list entry: a layer, or a block's first line.</summary>
    private void Line(string indent, string layer) => _text.Append(indent).Append("- ").Append(layer).Append('\n');

    /// <summary>A block's option, or a branch (itself a list).</summary>
    private void Key(string indent, string text) => _text.Append(indent).Append(text).Append('\n');

    /// <summary>An activation for this many channels: not softmax over one, whose output is 1 whatever its input (no gradient at all).</summary>
    private string ActivationOver(int channels) => Pick(Activations) is var a && a == "softmax" && channels < 2 ? "linear" : a;

    private T Pick<T>(params T[] options) => options[_rng.Next(options.Length)];

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
