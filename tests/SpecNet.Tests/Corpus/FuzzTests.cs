using System.Diagnostics;
using System.Text;
using SpecNet.Checking;
using SpecNet.Diagnostics;
using SpecNet.Formats;
using SpecNet.Kernels;

namespace SpecNet.Tests.Corpus;

/// <summary>
/// A seeded mutation fuzzer for the two readers that take untrusted input: the spec compiler and the
/// weights reader. Every mutant must end in diagnostics or a SpecNetException, never another exception.
/// Bounded by time (SPECNET_FUZZ_SECONDS, default 4 per reader) and reproducible from its seed; a
/// failing input is saved and named in the message.
/// </summary>
public class FuzzTests
{
    private static readonly double Seconds = double.TryParse(Environment.GetEnvironmentVariable("SPECNET_FUZZ_SECONDS"), out var s) ? s : 4;

    private static readonly string[] YamlBits = ["{", "}", "[", "]", ":", "- ", "&a ", "*a", "!!str ", "\t", "\n", "'", "\"", "#", "---\n", "|", ">", "?", ",", "1e309", "-0", ".nan", "null", "~", "\u00e9", "\uffff", "conv2d", "units: ", "  "];

    [Fact]
    public void Spec_compiler_survives_mutations()
    {
        var seeds = Directory.GetFiles(TestPaths.Repo("specs"), "*.yaml")
            .Concat(Directory.GetFiles(TestPaths.Tests("Checking", "diagnostics"), "*.yaml")).Select(File.ReadAllText).ToArray();
        Fuzz(seed: 1, rng =>
        {
            var text = seeds[rng.NextInt(seeds.Length)];
            var sb = new StringBuilder(text);
            for (int m = 1 + rng.NextInt(4); m > 0 && sb.Length > 0; m--)
            {
                int at = rng.NextInt(sb.Length);
                switch (rng.NextInt(5))
                {
                    case 0: sb.Insert(at, YamlBits[rng.NextInt(YamlBits.Length)]); break;
                    case 1: sb.Remove(at, Math.Min(1 + rng.NextInt(8), sb.Length - at)); break;
                    case 2: sb[at] = (char)(32 + rng.NextInt(95)); break;
                    case 3: { int len = Math.Min(1 + rng.NextInt(40), sb.Length - at); sb.Insert(rng.NextInt(sb.Length), sb.ToString(at, len)); break; }
                    default: sb.Insert(at, rng.NextInt(2) == 0 ? "999999999999" : "-1"); break;
                }
            }
            return Encoding.UTF8.GetBytes(sb.ToString());
        }, input =>
        {
            var text = Encoding.UTF8.GetString(input);
            var c = SpecCompiler.Compile(text, "fuzz.yaml");
            _ = c.Render();
            Assert.True(c.Success || c.Diagnostics.Any(d => d.IsError));
            if (c.Model is { } m) _ = SpecNet.Planning.ModelSummary.ToText(m);
        });
    }

    [Fact]
    public void Weights_reader_survives_mutations()
    {
        var fixture = TestPaths.Tests("Formats", "fixtures", "v0.1.0-patterns.safetensors");
        var original = File.ReadAllBytes(fixture);
        var model = SpecCompiler.Compile(WeightsFile.EmbeddedSpec(fixture), fixture).Model!;
        int header = (int)BitConverter.ToUInt64(original, 0) + 8;
        Fuzz(seed: 2, rng =>
        {
            var bytes = (byte[])original.Clone();
            int mutations = 1 + rng.NextInt(4);
            for (int m = 0; m < mutations && bytes.Length > 8; m++)
            {
                switch (rng.NextInt(4))
                {
                    case 0: bytes[rng.NextInt(8)] = (byte)rng.NextInt(256); break;                 // the length field
                    case 1: bytes[8 + rng.NextInt(Math.Min(header, bytes.Length) - 8)] = (byte)(32 + rng.NextInt(95)); break; // the JSON header
                    case 2: bytes[rng.NextInt(bytes.Length)] ^= (byte)(1 << rng.NextInt(8)); break;  // anywhere
                    default: Array.Resize(ref bytes, rng.NextInt(bytes.Length + 1)); break;         // truncation
                }
            }
            return bytes;
        }, input =>
        {
            try
            {
                var (tensors, _) = SafeTensors.Parse(input, "fuzz.safetensors");
                _ = WeightsFile.Problems(model, tensors);
            }
            catch (SpecNetException) { }
        });
    }

    private static void Fuzz(int seed, Func<Rng, byte[]> mutate, Action<byte[]> check)
    {
        var rng = new Rng((ulong)seed);
        var clock = Stopwatch.StartNew();
        int iterations = 0;
        while (clock.Elapsed.TotalSeconds < Seconds)
        {
            var input = mutate(rng);
            try { check(input); }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                var path = Path.Combine(Path.GetTempPath(), $"specnet-fuzz-{seed}-{iterations}.bin");
                File.WriteAllBytes(path, input);
                Assert.Fail($"iteration {iterations} (seed {seed}) threw {e.GetType().Name}: {e.Message}; input saved to {path}");
            }
            iterations++;
        }
        Assert.True(iterations > 100, $"only {iterations} iterations in {Seconds} s");
    }
}
