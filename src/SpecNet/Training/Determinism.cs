using System.Security.Cryptography;
using System.Runtime.InteropServices;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Planning;

namespace SpecNet.Training;

/// <summary>
/// Trains a few steps twice from scratch and compares the weights' hashes. With the same spec, seed,
/// backend and thread count SpecNet is bit-for-bit deterministic: the data order and dropout come from
/// the seed, and every sum (including the threads' partial gradients) is added in a fixed order.
/// Across thread counts or backends, results differ in the last bits (different summation orders).
/// </summary>
public static class Determinism
{
    /// <summary>The weights' hash at initialisation and after each of the two runs (a run that moved nothing would match the first).</summary>
    public static (string Initial, string First, string Second) Check(ModelSpec model, Dataset train, Func<IEngine> engine, int steps, int seed, int batchSize)
    {
        string Run()
        {
            var trainer = new Trainer(model, ParameterSet.Initialize(model, seed), engine(), epochs: int.MaxValue, batchSize, seed) { MaxSteps = steps };
            trainer.Fit(train, null);
            return Hash(trainer.Parameters);
        }
        return (Hash(ParameterSet.Initialize(model, seed)), Run(), Run());
    }

    public static string Hash(ParameterSet parameters)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var slot in parameters.Slots) sha.AppendData(MemoryMarshal.AsBytes(slot.Value.AsSpan()));
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }
}
