using SpecNet.Data;
using SpecNet.Planning;

namespace SpecNet.Training;

/// <summary>Loss, accuracy, per-class accuracy and the confusion matrix of a model on a dataset.</summary>
public sealed record Evaluation(double Loss, double Accuracy, double[] PerClassAccuracy, int[,] Confusion, int Count, int[] Predictions)
{
    public int Classes => PerClassAccuracy.Length;
}

public static class Evaluator
{
    /// <summary>Batch of a plan made just for evaluation: large enough for throughput, small enough for memory.</summary>
    public const int BatchSize = 128;

    public static Evaluation Evaluate(ParameterSet parameters, IEngine engine, Dataset data) =>
        Evaluate(engine.Plan(parameters.Model, parameters, Math.Min(BatchSize, data.Count), PlanOptions.Serving), data);

    /// <summary>Evaluates with an existing plan's buffers (the trainer's, between epochs).</summary>
    public static Evaluation Evaluate(IPlan plan, Dataset data)
    {
        var model = plan.Model;
        var loss = Loss.For(model.Training.Loss, model.FinalActivation);
        int units = model.Output.Size, classes = model.Classes;
        var confusion = new int[classes, classes];
        var predictions = new int[data.Count];
        var indices = new int[plan.Capacity];
        var labels = new int[plan.Capacity];
        var scratch = new float[plan.Capacity * units];
        double total = 0;
        for (int start = 0; start < data.Count; start += plan.Capacity)
        {
            int n = Math.Min(plan.Capacity, data.Count - start);
            for (int i = 0; i < n; i++) indices[i] = start + i;
            data.FillBatch(indices.AsSpan(0, n), plan.Input, labels);
            var y = plan.Forward(n, training: false);
            total += loss.Compute(y, labels.AsSpan(0, n), n, scratch.AsSpan(0, n * units));
            for (int i = 0; i < n; i++)
            {
                int predicted = Predict(y.Slice(i * units, units));
                predictions[start + i] = predicted;
                confusion[labels[i], predicted]++;
            }
        }
        var perClass = new double[classes];
        int correct = 0;
        for (int c = 0; c < classes; c++)
        {
            int row = 0;
            for (int p = 0; p < classes; p++) row += confusion[c, p];
            correct += confusion[c, c];
            perClass[c] = row == 0 ? double.NaN : confusion[c, c] / (double)row;
        }
        return new Evaluation(total / data.Count + Regularization.Penalty(plan.Parameters), correct / (double)data.Count, perClass, confusion, data.Count, predictions);
    }

    /// <summary>The winning class: argmax, or for a single sigmoid output, whether it is at least 0.5.</summary>
    public static int Predict(ReadOnlySpan<float> output)
    {
        if (output.Length == 1) return output[0] >= 0.5f ? 1 : 0;
        int best = 0;
        for (int c = 1; c < output.Length; c++) if (output[c] > output[best]) best = c;
        return best;
    }
}
