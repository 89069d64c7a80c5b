using SpecNet.Diagnostics;
using System.Diagnostics;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Training.Optimizers;

namespace SpecNet.Training;

/// <summary>One finished epoch, as the per-epoch line shows it.</summary>
public sealed record EpochReport(int Epoch, int Epochs, double Loss, double Accuracy, double? TestLoss, double? TestAccuracy,
    double Seconds, double ImagesPerSecond);

/// <summary>Progress inside an epoch, for progress bars.</summary>
public sealed record StepReport(int Epoch, int Step, int Steps, double Loss, double Accuracy, double ImagesPerSecond);

/// <summary>What training produced.</summary>
public sealed record TrainingResult(IReadOnlyList<EpochReport> Epochs, Evaluation? Test);

/// <summary>
/// The training loop (Keras's fit): every epoch shuffle with the seed, run mini-batches (the last one
/// partial) forward, loss, backward and optimizer step, then evaluate on the test set. Owns the loop;
/// the plan owns forward and backward, the optimizer the update.
/// </summary>
public sealed class Trainer
{
    private readonly ModelSpec _model;
    private readonly Backend _kernels;
    private readonly int _batchSize, _epochs, _seed;

    public Trainer(ModelSpec model, ParameterSet parameters, Backend kernels, int? epochs = null, int? batchSize = null, int? seed = null)
    {
        _model = model;
        Parameters = parameters;
        _kernels = kernels;
        _epochs = epochs ?? model.Training.Epochs;
        _batchSize = batchSize ?? model.Training.BatchSize;
        _seed = seed ?? model.Training.Seed;
        Optimizer = Optimizer.Create(model.Training.Optimizer, parameters);
    }

    public ParameterSet Parameters { get; }
    public Optimizer Optimizer { get; }

    /// <summary>Set when early stopping ended the run: the epoch it stopped after, and the best epoch.</summary>
    public (int Epoch, int BestEpoch)? StoppedEarly { get; private set; }

    /// <summary>Where checkpoints go (none when null), and how often besides each epoch's end.</summary>
    public string? CheckpointPath { get; init; }
    public int CheckpointEvery { get; init; }
    /// <summary>A checkpoint to continue from (written by an earlier run of the same spec, seed and batch size).</summary>
    public string? ResumeFrom { get; init; }
    /// <summary>Called after each checkpoint is written: (epoch, step) of the position it holds.</summary>
    public Action<int, int>? OnCheckpoint { get; init; }

    /// <summary>Where the best epoch's weights go when the spec asks to keep them (training.keep_best).</summary>
    public string? KeepBestPath { get; init; }

    /// <summary>Stop after this many steps in all (0: no limit); for quick checks such as determinism.</summary>
    public int MaxSteps { get; init; }

    public TrainingResult Fit(Dataset train, Dataset? test, Action<EpochReport>? onEpoch = null, Action<StepReport>? onStep = null,
        CancellationToken cancel = default)
    {
        var plan = new ExecutionPlan(_model, Parameters, _kernels, Math.Min(_batchSize, train.Count), _seed);
        var loss = Loss.For(_model.Training.Loss, _model.FinalActivation);
        var shuffle = Rng.For(_seed, "shuffle");
        var augmenter = _model.Data?.Augment is { } augment ? new Augmenter(augment, train.Preprocessing, train.Shape, Rng.For(_seed, "augment")) : null;
        var order = Enumerable.Range(0, train.Count).ToArray();
        var labels = new int[plan.Capacity];
        int units = _model.Output.Size;
        int steps = (train.Count + plan.Capacity - 1) / plan.Capacity;
        var reports = new List<EpochReport>();
        Evaluation? evaluation = null;
        int firstEpoch = 1, firstStep = 0;
        double lossSum = 0;
        int correct = 0;
        var early = _model.Training.EarlyStopping;
        var watch = early ?? (_model.Training.KeepBest ? new EarlyStoppingSpec(test is null ? "loss" : "val_loss", 0, int.MaxValue, false) : null);
        if (watch is not null && watch.Monitor.StartsWith("val_") && test is null)
            throw new SpecNetException($"{_model.SourcePath}: early_stopping monitors {watch.Monitor}, but the data has no test set to validate on",
                "add data.test, or monitor loss / accuracy");
        var best = new BestEpoch(watch, Parameters);

        if (ResumeFrom is not null)
        {
            var at = Checkpoint.Load(ResumeFrom, _model, Parameters, Optimizer, _seed, plan.Capacity);
            if (at.Order.Length != train.Count)
                throw new SpecNetException($"{ResumeFrom}: the run had {at.Order.Length:N0} training examples, the data now has {train.Count:N0}", "resume with the same data");
            (firstEpoch, firstStep, order, lossSum, correct) = (at.Epoch, at.Step, at.Order, at.LossSum, at.Correct);
            shuffle.State = at.ShuffleRng;
            plan.Dropout.State = at.DropoutRng;
            if (augmenter is not null && at.AugmentRng is { } a) augmenter.Random.State = a;
            reports.AddRange(at.History);
            best.Restore(ResumeFrom, at.History);
        }

        void Save(int epoch, int step)
        {
            Checkpoint.Save(CheckpointPath!, _model, Parameters, Optimizer,
                new TrainingPosition(epoch, step, order, shuffle.State, plan.Dropout.State, lossSum, correct, reports) { AugmentRng = augmenter?.Random.State },
                _seed, plan.Capacity, best.Extra());
            OnCheckpoint?.Invoke(epoch, step);
        }

        for (int epoch = firstEpoch; epoch <= _epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            if (epoch != firstEpoch || firstStep == 0)
            {
                shuffle.Shuffle(order);
                (lossSum, correct, firstStep) = (0, 0, 0);
            }
            for (int step = firstStep; step < steps; step++)
            {
                if (cancel.IsCancellationRequested)
                {
                    if (CheckpointPath is null) throw new OperationCanceledException(cancel);
                    Save(epoch, step);
                    throw new TrainingInterruptedException(CheckpointPath, epoch, step);
                }
                if (MaxSteps > 0 && Optimizer.Iterations >= MaxSteps) return new TrainingResult(reports, evaluation);
                int start = step * plan.Capacity, n = Math.Min(plan.Capacity, train.Count - start);
                train.FillBatch(order.AsSpan(start, n), plan.Input, labels);
                augmenter?.Apply(plan.Input, n);
                var y = plan.Forward(n, training: true);
                double batchLoss = loss.Compute(y, labels.AsSpan(0, n), n, plan.OutputGradient);
                if (!double.IsFinite(batchLoss))
                    throw new SpecNetException($"training diverged: the loss became {batchLoss} at epoch {epoch}, step {step + 1}" +
                        (CheckpointPath is not null && File.Exists(CheckpointPath) ? $"; the last finite checkpoint is {CheckpointPath}" : ""),
                        "lower the learning rate, or check that the inputs are scaled to [0, 1]");
                lossSum += batchLoss;
                for (int i = 0; i < n; i++) if (Evaluator.Predict(y.Slice(i * units, units)) == labels[i]) correct++;
                plan.Backward(loss.Fused);
                Optimizer.Step();
                int seen = start + n;
                if (onStep is not null && (step % 20 == 19 || step == steps - 1))
                    onStep(new StepReport(epoch, step + 1, steps, lossSum / seen, correct / (double)seen, (seen - firstStep * plan.Capacity) / clock.Elapsed.TotalSeconds));
                if (CheckpointPath is not null && CheckpointEvery > 0 && (step + 1) % CheckpointEvery == 0 && step + 1 < steps) Save(epoch, step + 1);
            }
            double trainSeconds = clock.Elapsed.TotalSeconds;
            int trained = train.Count - firstStep * plan.Capacity;
            // Evaluation reuses the training plan's buffers (forward only): no second set of activations.
            evaluation = test is null ? null : Evaluator.Evaluate(Parameters, _kernels, test, plan);
            var report = new EpochReport(epoch, _epochs, lossSum / train.Count, correct / (double)train.Count,
                evaluation?.Loss, evaluation?.Accuracy, clock.Elapsed.TotalSeconds, trained / trainSeconds);
            reports.Add(report);
            firstStep = 0;
            bool improved = best.Observe(report);
            if (improved && KeepBestPath is not null)
                Formats.WeightsFile.Save(KeepBestPath, Parameters, new Dictionary<string, string> { ["epoch"] = epoch.ToString(System.Globalization.CultureInfo.InvariantCulture), [best.Monitor] = best.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture) });
            if (CheckpointPath is not null) Save(epoch + 1, 0);
            onEpoch?.Invoke(report);
            if (early is not null && !improved && best.Wait >= early.Patience) // Keras: stop once `patience` epochs passed without improvement
            {
                StoppedEarly = (epoch, best.Epoch);
                break;
            }
        }
        if (early is { RestoreBestWeights: true } && best.Epoch > 0) best.RestoreWeights();
        return new TrainingResult(reports, evaluation);
    }
}

/// <summary>
/// The best epoch so far by a monitored metric (Keras's EarlyStopping bookkeeping): its value, how many
/// epochs have passed without improvement, and (when needed) a copy of its weights.
/// </summary>
internal sealed class BestEpoch(EarlyStoppingSpec? watch, ParameterSet parameters)
{
    private float[][]? _weights;

    public string Monitor => watch?.Monitor ?? "val_loss";
    public double Value { get; private set; } = double.NaN;
    public int Epoch { get; private set; }
    public int Wait { get; private set; }

    public bool Observe(EpochReport r)
    {
        if (watch is null) return false;
        double v = watch.Monitor switch
        {
            "val_loss" => r.TestLoss!.Value, "val_accuracy" => r.TestAccuracy!.Value, "accuracy" => r.Accuracy, _ => r.Loss,
        };
        bool improved = double.IsNaN(Value) || (watch.HigherIsBetter ? v > Value + watch.MinDelta : v < Value - watch.MinDelta);
        if (!improved) { Wait++; return false; }
        (Value, Epoch, Wait) = (v, r.Epoch, 0);
        if (watch.RestoreBestWeights) _weights = parameters.Slots.Select(s => (float[])s.Value.Clone()).ToArray();
        return true;
    }

    public void RestoreWeights()
    {
        if (_weights is null) return;
        for (int i = 0; i < _weights.Length; i++) _weights[i].CopyTo(parameters.Slots[i].Value, 0);
    }

    /// <summary>What a checkpoint must carry to continue the bookkeeping exactly.</summary>
    public (Dictionary<string, string> Metadata, List<Formats.Tensor> Tensors) Extra()
    {
        var meta = new Dictionary<string, string>
        {
            ["best_value"] = Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            ["best_epoch"] = Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["best_wait"] = Wait.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var tensors = _weights is null ? [] : parameters.Slots.Select((s, i) => new Formats.Tensor("best." + s.Name, [_weights[i].Length], _weights[i])).ToList();
        return (meta, tensors);
    }

    public void Restore(string checkpoint, IReadOnlyList<EpochReport> history)
    {
        var (tensors, meta) = Formats.SafeTensors.Read(checkpoint);
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        if (meta.TryGetValue("best_value", out var v)) Value = double.Parse(v, inv);
        if (meta.TryGetValue("best_epoch", out var e)) Epoch = int.Parse(e, inv);
        if (meta.TryGetValue("best_wait", out var w)) Wait = int.Parse(w, inv);
        if (watch is { RestoreBestWeights: true } && tensors.Any(t => t.Name.StartsWith("best.", StringComparison.Ordinal)))
            _weights = parameters.Slots.Select(s => tensors.First(t => t.Name == "best." + s.Name).Data).ToArray();
    }
}
