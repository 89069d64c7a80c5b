using System.Globalization;
using SpecNet.Checking;
using SpecNet.Formats;
using SpecNet.Planning;

namespace SpecNet.Training;

/// <summary>
/// What happens around the training loop (Keras's callbacks): called after each step, after each epoch
/// (once its report is in the history), at the end, and when training is interrupted. Callbacks with
/// state save it in checkpoints through <see cref="SaveState"/>, so a resumed run continues exactly.
/// </summary>
public abstract class TrainingCallback
{
    /// <summary>Before the first step (and before a checkpoint is restored).</summary>
    public virtual void Begin(TrainingRun run) { }
    public virtual void StepEnded(TrainingRun run) { }
    public virtual void EpochEnded(TrainingRun run, EpochReport report) { }
    public virtual void Ended(TrainingRun run) { }
    /// <summary>Ctrl+C or SIGTERM: the step in progress has finished.</summary>
    public virtual void Interrupted(TrainingRun run) { }

    /// <summary>The state a checkpoint must carry: metadata values and tensors, under this callback's own key prefix.</summary>
    public virtual void SaveState(IDictionary<string, string> metadata, IList<Tensor> tensors) { }
    public virtual void RestoreState(IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, Tensor> tensors) { }
}

/// <summary>
/// Keras's bookkeeping of a monitored metric (EarlyStopping, ModelCheckpoint's save_best_only): the best
/// value so far, its epoch, and how many epochs have passed since. An epoch improves on the best when
/// value &lt; best - min_delta (for a loss) or value &gt; best + min_delta (for an accuracy); exactly
/// min_delta better is not an improvement.
/// </summary>
public sealed class MetricTracker(Metric monitor, double minDelta = 0)
{
    public Metric Monitor => monitor;
    public string MonitorName => EarlyStoppingSpec.Monitors[(int)monitor];
    public bool HigherIsBetter => monitor is Metric.Accuracy or Metric.ValAccuracy;
    public double Best { get; private set; } = double.NaN;
    public int BestEpoch { get; private set; }
    /// <summary>Epochs since the best one (Keras's `wait`).</summary>
    public int Wait { get; private set; }

    /// <summary>Records one epoch's value; true when it is the new best.</summary>
    public bool Observe(int epoch, double value)
    {
        Wait++;
        bool improved = double.IsNaN(Best) || (HigherIsBetter ? value - minDelta > Best : value + minDelta < Best);
        if (!improved) return false;
        (Best, BestEpoch, Wait) = (value, epoch, 0);
        return true;
    }

    public void Save(IDictionary<string, string> metadata, string prefix)
    {
        metadata[prefix + "best_value"] = Best.ToString("R", CultureInfo.InvariantCulture);
        metadata[prefix + "best_epoch"] = BestEpoch.ToString(CultureInfo.InvariantCulture);
        metadata[prefix + "wait"] = Wait.ToString(CultureInfo.InvariantCulture);
    }

    public void Restore(IReadOnlyDictionary<string, string> metadata, string prefix)
    {
        if (metadata.TryGetValue(prefix + "best_value", out var v)) Best = double.Parse(v, CultureInfo.InvariantCulture);
        if (metadata.TryGetValue(prefix + "best_epoch", out var e)) BestEpoch = int.Parse(e, CultureInfo.InvariantCulture);
        if (metadata.TryGetValue(prefix + "wait", out var w)) Wait = int.Parse(w, CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// Keras's EarlyStopping: stop once <c>patience</c> epochs have passed without improvement; with
/// restore_best_weights, end (stopped or not) with the best epoch's weights.
/// </summary>
public sealed class EarlyStopping(EarlyStoppingSpec spec) : TrainingCallback
{
    private const string Prefix = "early_stopping.";
    private readonly MetricTracker _tracker = new(spec.Monitor, spec.MinDelta);
    private float[][]? _bestWeights;
    private ParameterSet _parameters = null!;

    public MetricTracker Tracker => _tracker;
    /// <summary>The epoch after which training stopped; 0 when it ran to the end.</summary>
    public int StoppedEpoch { get; private set; }

    public override void Begin(TrainingRun run) => _parameters = run.Parameters;

    public override void EpochEnded(TrainingRun run, EpochReport report)
    {
        if (report.Value(spec.Monitor) is not { } value) return;
        if (_tracker.Observe(report.Epoch, value))
        {
            if (spec.RestoreBestWeights) _bestWeights = _parameters.Slots.Select(s => (float[])s.Value.Clone()).ToArray();
            return;
        }
        if (_tracker.Wait >= spec.Patience)
        {
            StoppedEpoch = report.Epoch;
            run.Stop();
        }
    }

    public override void Ended(TrainingRun run)
    {
        if (!spec.RestoreBestWeights || _bestWeights is null) return;
        for (int i = 0; i < _bestWeights.Length; i++) _bestWeights[i].CopyTo(_parameters.Slots[i].Value, 0);
    }

    public override void SaveState(IDictionary<string, string> metadata, IList<Tensor> tensors)
    {
        _tracker.Save(metadata, Prefix);
        metadata[Prefix + "stopped_epoch"] = StoppedEpoch.ToString(CultureInfo.InvariantCulture);
        if (_bestWeights is null) return;
        for (int i = 0; i < _bestWeights.Length; i++)
            tensors.Add(new Tensor(Prefix + _parameters.Slots[i].Name, [_bestWeights[i].Length], _bestWeights[i]));
    }

    public override void RestoreState(IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, Tensor> tensors)
    {
        _tracker.Restore(metadata, Prefix);
        if (metadata.TryGetValue(Prefix + "stopped_epoch", out var s)) StoppedEpoch = int.Parse(s, CultureInfo.InvariantCulture);
        if (spec.RestoreBestWeights && _parameters.Slots.All(p => tensors.ContainsKey(Prefix + p.Name)))
            _bestWeights = _parameters.Slots.Select(p => tensors[Prefix + p.Name].Data).ToArray();
    }
}

/// <summary>
/// training.keep_best: writes the best epoch's weights to a file of their own, by the monitored metric
/// (early stopping's, with its min_delta, so that restored weights and this file agree).
/// </summary>
public sealed class KeepBest(string path, Metric monitor, double minDelta, Func<IReadOnlyDictionary<string, string>> provenance) : TrainingCallback
{
    private const string Prefix = "keep_best.";
    private readonly MetricTracker _tracker = new(monitor, minDelta);

    public string Path => path;
    public MetricTracker Tracker => _tracker;

    public override void EpochEnded(TrainingRun run, EpochReport report)
    {
        if (report.Value(monitor) is not { } value || !_tracker.Observe(report.Epoch, value)) return;
        var metadata = new Dictionary<string, string>(provenance())
        {
            ["epoch"] = report.Epoch.ToString(CultureInfo.InvariantCulture),
            [_tracker.MonitorName] = value.ToString("R", CultureInfo.InvariantCulture),
            [WeightsFile.Keys.History] = System.Text.Json.JsonSerializer.Serialize(run.History),
        };
        WeightsFile.Save(path, run.Parameters, metadata);
    }

    public override void SaveState(IDictionary<string, string> metadata, IList<Tensor> tensors) => _tracker.Save(metadata, Prefix);

    public override void RestoreState(IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, Tensor> tensors) =>
        _tracker.Restore(metadata, Prefix);
}

/// <summary>
/// Keras's ReduceLROnPlateau: after <c>patience</c> epochs without an improvement of more than min_delta,
/// the learning rate becomes max(rate · factor, min_lr), then <c>cooldown</c> epochs pass before counting
/// again. The rate it sets, its best value, wait and cooldown counter are saved in checkpoints.
/// </summary>
public sealed class ReduceLearningRateOnPlateau(PlateauSpec spec) : TrainingCallback
{
    private const string Prefix = "reduce_lr.";
    private double _best = double.NaN;
    private int _cooldown;

    public int Wait { get; private set; }
    /// <summary>Epochs after which the rate was reduced.</summary>
    public List<int> Reductions { get; } = [];

    public override void EpochEnded(TrainingRun run, EpochReport report)
    {
        if (report.Value(spec.Monitor) is not { } current) return;
        if (_cooldown > 0) { _cooldown--; Wait = 0; }
        bool improved = double.IsNaN(_best) || (spec.HigherIsBetter ? current > _best + spec.MinDelta : current < _best - spec.MinDelta);
        if (improved) { (_best, Wait) = (current, 0); return; }
        if (_cooldown > 0) return;
        if (++Wait < spec.Patience) return;
        double old = run.Optimizer.LearningRate;
        if (old > (float)spec.MinLearningRate)
        {
            run.Optimizer.LearningRateOverride = Math.Max(old * spec.Factor, spec.MinLearningRate);
            Reductions.Add(report.Epoch);
            _cooldown = spec.Cooldown;
            Wait = 0;
        }
    }

    public override void SaveState(IDictionary<string, string> metadata, IList<Tensor> tensors)
    {
        metadata[Prefix + "best"] = _best.ToString("R", CultureInfo.InvariantCulture);
        metadata[Prefix + "wait"] = Wait.ToString(CultureInfo.InvariantCulture);
        metadata[Prefix + "cooldown"] = _cooldown.ToString(CultureInfo.InvariantCulture);
        metadata[Prefix + "reductions"] = string.Join(",", Reductions);
    }

    public override void RestoreState(IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, Tensor> tensors)
    {
        if (metadata.TryGetValue(Prefix + "best", out var b)) _best = double.Parse(b, CultureInfo.InvariantCulture);
        if (metadata.TryGetValue(Prefix + "wait", out var w)) Wait = int.Parse(w, CultureInfo.InvariantCulture);
        if (metadata.TryGetValue(Prefix + "cooldown", out var c)) _cooldown = int.Parse(c, CultureInfo.InvariantCulture);
        if (metadata.TryGetValue(Prefix + "reductions", out var r) && r.Length > 0) Reductions.AddRange(r.Split(',').Select(e => int.Parse(e, CultureInfo.InvariantCulture)));
    }
}

/// <summary>
/// Writes a checkpoint after every epoch and every <c>every</c> steps (0: epochs only), and on interruption,
/// after which training ends with <see cref="TrainingInterruptedException"/>. Comes last among the
/// callbacks, so that every other callback's state is current when it saves.
/// </summary>
public sealed class Checkpointer(string path, int every, IReadOnlyList<TrainingCallback> others) : TrainingCallback
{
    public string Path => path;

    /// <summary>Called after each checkpoint is written: (epoch, step) of the position it holds.</summary>
    public Action<int, int>? Written { get; init; }

    public override void StepEnded(TrainingRun run)
    {
        if (every > 0 && (run.Step + 1) % every == 0 && run.Step + 1 < run.Steps) Save(run, run.Epoch, run.Step + 1);
    }

    public override void EpochEnded(TrainingRun run, EpochReport report) => Save(run, run.Epoch + 1, 0);

    public override void Interrupted(TrainingRun run)
    {
        Save(run, run.Epoch, run.Step);
        throw new TrainingInterruptedException(path, run.Epoch, run.Step);
    }

    private void Save(TrainingRun run, int epoch, int step)
    {
        Checkpoint.Save(path, run, epoch, step, others);
        run.LastCheckpoint = path;
        Written?.Invoke(epoch, step);
    }
}
