using System.Diagnostics;
using SpecNet.Diagnostics;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Training.Optimizers;

namespace SpecNet.Training;

/// <summary>One finished epoch, as the per-epoch line shows it. TestLoss/TestAccuracy are on the validation data (else the test data).</summary>
public sealed record EpochReport(int Epoch, int Epochs, double Loss, double Accuracy, double? TestLoss, double? TestAccuracy,
    double Seconds, double ImagesPerSecond, double? LearningRate = null)
{
    /// <summary>The value of a monitored metric this epoch; null when it was not measured (no validation data).</summary>
    public double? Value(Metric metric) => metric switch
    {
        Metric.Loss => Loss,
        Metric.Accuracy => Accuracy,
        Metric.ValLoss => TestLoss,
        _ => TestAccuracy,
    };
}

/// <summary>Progress inside an epoch, for progress bars.</summary>
public sealed record StepReport(int Epoch, int Step, int Steps, double Loss, double Accuracy, double ImagesPerSecond);

/// <summary>What training produced: every epoch's report, and the last evaluation on the validation (or test) data.</summary>
public sealed record TrainingResult(IReadOnlyList<EpochReport> Epochs, Evaluation? Validation);

/// <summary>
/// The training loop (Keras's fit): every epoch shuffle with the seed, run mini-batches (the last one
/// partial) forward, loss, backward and optimizer step, then evaluate on the validation data. The loop
/// owns only that; the plan owns forward and backward, the optimizer the update, and callbacks
/// (<see cref="TrainingCallback"/>: checkpoints, early stopping, keep-best) what happens around it.
/// </summary>
public sealed class Trainer
{
    private readonly ModelSpec _model;
    private readonly IEngine _engine;
    private readonly int _batchSize, _epochs, _seed;

    public Trainer(ModelSpec model, ParameterSet parameters, IEngine engine, int? epochs = null, int? batchSize = null, int? seed = null)
    {
        _model = model;
        Parameters = parameters;
        _engine = engine;
        _epochs = epochs ?? model.Training.Epochs;
        _batchSize = batchSize ?? model.Training.BatchSize;
        _seed = seed ?? model.Training.Seed;
        Optimizer = Optimizer.Create(model.Training.Optimizer, parameters, engine.Kernels);
    }

    public ParameterSet Parameters { get; }
    public Optimizer Optimizer { get; }

    /// <summary>Called in this order after each step, after each epoch and at the end; the checkpointer should come last.</summary>
    public IReadOnlyList<TrainingCallback> Callbacks { get; init; } = [];

    /// <summary>A checkpoint to continue from (written by an earlier run of the same spec, seed and batch size).</summary>
    public string? ResumeFrom { get; init; }

    /// <summary>Stop after this many steps in all (0: no limit); for quick checks such as determinism.</summary>
    public int MaxSteps { get; init; }

    public TrainingResult Fit(Dataset train, Dataset? validation, Action<EpochReport>? onEpoch = null, Action<StepReport>? onStep = null,
        CancellationToken cancel = default)
    {
        var plan = _engine.Plan(_model, Parameters, Math.Min(_batchSize, train.Count), new PlanOptions(Seed: _seed));
        var run = new TrainingRun(_model, Parameters, Optimizer, plan, train, validation, _seed, _epochs);
        foreach (var callback in Callbacks) callback.Begin(run);
        if (ResumeFrom is not null)
        {
            Checkpoint.Load(ResumeFrom, run, Callbacks);
            if (run.Epoch > _epochs || run.Stopped)
                throw new SpecNetException($"{ResumeFrom}: that run had already finished{(run.Stopped ? " (stopped early)" : $" its {_epochs} epochs")}",
                    run.Stopped ? "start afresh without --resume" : "pass --epochs with a larger number to train further");
        }
        var loss = Loss.For(_model.Training.Loss, _model.FinalActivation);
        var labels = new int[plan.Capacity];
        int units = _model.Output.Size;

        for (; run.Epoch <= _epochs && !run.Stopped; run.Epoch++)
        {
            var clock = Stopwatch.StartNew();
            int firstStep = run.Step;
            for (; run.Step < run.Steps; run.Step++)
            {
                if (cancel.IsCancellationRequested)
                {
                    foreach (var callback in Callbacks) callback.Interrupted(run);
                    throw new OperationCanceledException(cancel);
                }
                // After the check: a checkpoint at step 0 holds an epoch whose order is not drawn yet, at
                // the end of an epoch and on interruption alike, so resuming draws it exactly once.
                if (run.Step == 0) run.BeginEpoch();
                if (MaxSteps > 0 && Optimizer.Iterations >= MaxSteps) return new TrainingResult(run.History, run.Evaluation);
                // One step: a batch in, forward, loss, backward, update.
                int start = run.Step * plan.Capacity, n = Math.Min(plan.Capacity, train.Count - start);
                train.FillBatch(run.Order.AsSpan(start, n), plan.Input, labels);
                run.Augmenter?.Apply(plan.Input, n);
                var y = plan.Forward(n, training: true);
                double batchLoss = loss.Compute(y, labels.AsSpan(0, n), n, plan.OutputGradient);
                for (int i = 0; i < n; i++) if (Evaluator.Predict(y.Slice(i * units, units)) == labels[i]) run.Correct++;
                plan.Backward(loss.Fused);
                double penalty = Regularization.Apply(Parameters); // kernel/bias regularizers: into the loss (as Keras reports it) and the gradients
                if (!double.IsFinite(batchLoss + penalty)) throw Diverged(run, batchLoss + penalty);
                run.LossSum += batchLoss + penalty * n;
                Optimizer.Step();

                int seen = start + n;
                if (onStep is not null && (run.Step % StepsPerProgressReport == StepsPerProgressReport - 1 || run.Step == run.Steps - 1))
                    onStep(new StepReport(run.Epoch, run.Step + 1, run.Steps, run.LossSum / seen, run.Correct / (double)seen,
                        (seen - firstStep * plan.Capacity) / clock.Elapsed.TotalSeconds));
                for (int c = 0; c < Callbacks.Count; c++) Callbacks[c].StepEnded(run);   // by index: an enumerator over the interface allocates
            }
            double trainSeconds = clock.Elapsed.TotalSeconds;
            int trained = train.Count - firstStep * plan.Capacity;
            // Evaluation reuses the training plan's buffers (forward only): no second set of activations.
            run.Evaluation = validation is null ? null : Evaluator.Evaluate(plan, validation);
            var report = new EpochReport(run.Epoch, _epochs, run.LossSum / train.Count, run.Correct / (double)train.Count,
                run.Evaluation?.Loss, run.Evaluation?.Accuracy, clock.Elapsed.TotalSeconds, trained / trainSeconds, Optimizer.LearningRate);
            run.History.Add(report);
            run.Step = 0;
            foreach (var callback in Callbacks) callback.EpochEnded(run, report);
            onEpoch?.Invoke(report);
        }
        foreach (var callback in Callbacks) callback.Ended(run);
        return new TrainingResult(run.History, run.Evaluation);
    }

    /// <summary>How often (in steps) progress is reported.</summary>
    private const int StepsPerProgressReport = 20;

    private static SpecNetException Diverged(TrainingRun run, double loss) =>
        new($"training diverged: the loss became {loss} at epoch {run.Epoch}, step {run.Step + 1}" +
            (run.LastCheckpoint is { } c ? $"; the last finite checkpoint is {c}" : ""),
            "lower the learning rate, or check that the inputs are scaled to [0, 1]");
}

/// <summary>
/// The state of one training run: where it is (epoch, step, the epoch's example order, the sums so far),
/// its random generators, and its history. Exactly what a checkpoint saves and restores.
/// </summary>
public sealed class TrainingRun
{
    internal TrainingRun(ModelSpec model, ParameterSet parameters, Optimizer optimizer, IPlan plan, Dataset train, Dataset? validation, int seed, int epochs)
    {
        (Model, Parameters, Optimizer, Plan, Seed, Epochs) = (model, parameters, optimizer, plan, seed, epochs);
        Order = Enumerable.Range(0, train.Count).ToArray();
        Steps = (train.Count + plan.Capacity - 1) / plan.Capacity;
        Shuffle = Rng.For(seed, "shuffle");
        Augmenter = model.Data?.Augment is { } augment ? new Augmenter(augment, train.Preprocessing, train.Shape, Rng.For(seed, "augment")) : null;
        HasValidation = validation is not null;
    }

    public ModelSpec Model { get; }
    public ParameterSet Parameters { get; }
    public Optimizer Optimizer { get; }
    public IPlan Plan { get; }
    public int Seed { get; }
    public int Epochs { get; }
    public int BatchSize => Plan.Capacity;
    public bool HasValidation { get; }
    public int Steps { get; }

    /// <summary>The epoch being run (1-based) and the next step in it.</summary>
    public int Epoch { get; internal set; } = 1;
    public int Step { get; internal set; }
    public int[] Order { get; internal set; }
    public double LossSum { get; internal set; }
    public int Correct { get; internal set; }
    public List<EpochReport> History { get; } = [];
    public Evaluation? Evaluation { get; internal set; }
    public Rng Shuffle { get; }
    public Augmenter? Augmenter { get; }

    /// <summary>Set by a callback (early stopping) to end the run after this epoch.</summary>
    public bool Stopped { get; private set; }
    public void Stop() => Stopped = true;

    /// <summary>The last checkpoint written, for messages.</summary>
    public string? LastCheckpoint { get; internal set; }

    internal void BeginEpoch()
    {
        Shuffle.Shuffle(Order);
        (LossSum, Correct) = (0, 0);
    }
}
