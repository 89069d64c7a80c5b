using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Formats;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Cli;
using SpecNet.Training;
using SpecNet.Training.Optimizers;

namespace SpecNet.Tests.Training;

/// <summary>
/// Keras's EarlyStopping on scripted metric sequences (no training: the metric values are given), and
/// keep_best; then both through the real command.
/// </summary>
public class EarlyStoppingTests
{
    /// <summary>A run of a tiny model whose first weight is set to the epoch number, so restored weights tell which epoch they are.</summary>
    private sealed class Script(string earlyStopping)
    {
        private readonly ModelSpec _model = SpecCompiler.Compile(
            $"input: [2]\nlayers:\n  - dense: {{ units: 2, activation: softmax }}\ntraining:\n  early_stopping: {earlyStopping}\n", "s.yaml").Model!;
        public readonly List<int> Epochs = [];
        public EarlyStopping Callback = null!;
        public TrainingRun Run = null!;

        public Script Start()
        {
            var parameters = ParameterSet.Initialize(_model, 1);
            var plan = new CpuEngine(new ReferenceBackend()).Plan(_model, parameters, 2, new PlanOptions());
            var data = new Dataset("d", SpecNet.Schema.Shape.Flat(2), new byte[4], [0, 1]);
            Run = new TrainingRun(_model, parameters, Optimizer.Create(_model.Training.Optimizer, parameters), plan, data, data, 1, 100);
            Callback = new EarlyStopping(_model.Training.EarlyStopping!);
            Callback.Begin(Run);
            return this;
        }

        /// <summary>Epochs with these monitored values, until early stopping says stop; returns the epochs run.</summary>
        public Script Feed(params double[] values)
        {
            foreach (var v in values)
            {
                if (Run.Stopped) break;
                int epoch = Epochs.Count + 1;
                Run.Parameters.Slots[0].Value[0] = epoch;
                var report = new EpochReport(epoch, 100, v, v, v, v, 1, 1);
                Run.History.Add(report);
                Callback.EpochEnded(Run, report);
                Epochs.Add(epoch);
            }
            return this;
        }

        public float WeightsEpoch
        {
            get { Callback.Ended(Run); return Run.Parameters.Slots[0].Value[0]; }
        }
    }

    [Fact]
    public void Loss_monitor_stops_once_patience_epochs_pass_without_a_lower_value()
    {
        var s = new Script("{ monitor: val_loss, patience: 2 }").Start().Feed(1.0, 0.9, 0.95, 0.94, 0.93, 0.5);
        Assert.Equal([1, 2, 3, 4], s.Epochs);
        Assert.Equal((4, 2), (s.Callback.StoppedEpoch, s.Callback.Tracker.BestEpoch));
        Assert.Equal(4, s.WeightsEpoch); // restore_best_weights is off: the last epoch's weights stay
    }

    [Fact]
    public void Accuracy_monitor_wants_higher_values()
    {
        var s = new Script("{ monitor: val_accuracy, patience: 2, restore_best_weights: true }").Start().Feed(0.5, 0.6, 0.55, 0.7, 0.65, 0.6, 0.9);
        Assert.Equal([1, 2, 3, 4, 5, 6], s.Epochs);
        Assert.Equal(4, s.Callback.Tracker.BestEpoch);
        Assert.Equal(4, s.WeightsEpoch);
    }

    [Fact]
    public void Exactly_min_delta_better_is_not_an_improvement()
    {
        // 0.75 is exactly min_delta below 1.0: not an improvement (Keras: current + min_delta < best); 0.5 is.
        var s = new Script("{ monitor: loss, min_delta: 0.25, patience: 5 }").Start().Feed(1.0, 0.75, 0.5);
        Assert.Equal(3, s.Callback.Tracker.BestEpoch);
        Assert.Equal(0, s.Callback.Tracker.Wait);
        var t = new Script("{ monitor: loss, min_delta: 0.25, patience: 5 }").Start().Feed(1.0, 0.75);
        Assert.Equal((1, 1), (t.Callback.Tracker.BestEpoch, t.Callback.Tracker.Wait));
        var up = new Script("{ monitor: accuracy, min_delta: 0.25, patience: 5 }").Start().Feed(0.25, 0.5, 0.75);
        Assert.Equal((3, 0), (up.Callback.Tracker.BestEpoch, up.Callback.Tracker.Wait));
    }

    [Fact]
    public void An_improvement_resets_the_patience()
    {
        // without the reset, epoch 4 would be the second epoch without improvement and stop the run
        var s = new Script("{ monitor: val_loss, patience: 2 }").Start().Feed(1.0, 1.1, 0.9, 1.2, 1.3, 0.1);
        Assert.Equal([1, 2, 3, 4, 5], s.Epochs);
        Assert.Equal(3, s.Callback.Tracker.BestEpoch);
    }

    [Fact]
    public void Patience_zero_stops_after_the_first_epoch_without_improvement()
    {
        var s = new Script("{ monitor: val_loss }").Start().Feed(1.0, 0.8, 0.8, 0.1);
        Assert.Equal([1, 2, 3], s.Epochs);
    }

    [Fact]
    public void Best_weights_are_restored_when_training_ends_without_stopping()
    {
        var s = new Script("{ monitor: val_loss, patience: 10, restore_best_weights: true }").Start().Feed(1.0, 0.5, 0.8, 0.7);
        Assert.Equal(0, s.Callback.StoppedEpoch);
        Assert.Equal(2, s.WeightsEpoch);
    }

    [Fact]
    public void State_carried_through_a_checkpoint_continues_the_same_decisions()
    {
        const string options = "{ monitor: val_loss, patience: 2, restore_best_weights: true }";
        double[] values = [1.0, 0.5, 0.7, 0.6, 0.65, 0.3];
        var whole = new Script(options).Start().Feed(values);

        var first = new Script(options).Start().Feed(values[..3]);
        var metadata = new Dictionary<string, string>();
        var tensors = new List<Tensor>();
        first.Callback.SaveState(metadata, tensors);
        var second = new Script(options).Start();
        second.Callback.RestoreState(metadata, tensors.ToDictionary(t => t.Name));
        second.Epochs.AddRange(first.Epochs);
        second.Feed(values[3..]);
        Assert.Equal(whole.Epochs, second.Epochs);
        Assert.Equal((whole.Callback.StoppedEpoch, whole.Callback.Tracker.BestEpoch), (second.Callback.StoppedEpoch, second.Callback.Tracker.BestEpoch));
        Assert.Equal(whole.WeightsEpoch, second.WeightsEpoch);
        Assert.Equal(2, second.WeightsEpoch); // the best weights came through the checkpoint as tensors
    }

    [Fact]
    public void Stops_when_the_monitor_stops_improving_and_restores_the_best_weights()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, epochs: 30);
        // min_delta 1.0 on val_accuracy can never be met after the first epoch: patience 2 stops after epoch 3.
        File.WriteAllText(spec, File.ReadAllText(spec).Replace("  seed: 3", "  seed: 3\n  keep_best: true\n  early_stopping: { monitor: val_accuracy, min_delta: 1.0, patience: 2, restore_best_weights: true }"));
        var r = CliRunner.Run("train", spec, "--json");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(3, r.Output.Split('\n').Count(l => l.Contains("\"event\":\"epoch\"")));
        Assert.Contains("Early stopping after epoch 3: val_accuracy has not improved since epoch 1; the weights are epoch 1's", r.Error);
        // restored weights are epoch 1's, which keep_best also wrote
        var final = SpecNet.Formats.SafeTensors.Read(dir.File("patterns.safetensors")).Tensors;
        var best = SpecNet.Formats.SafeTensors.Read(dir.File("patterns.best.safetensors"));
        Assert.Equal("1", best.Metadata["epoch"]);
        Assert.Equal(best.Tensors.Select(t => t.Data), final.Select(t => t.Data));
    }

    [Fact]
    public void Early_stopping_options_are_checked()
    {
        var c = SpecCompiler.Compile("input: { shape: [4] }\nlayers:\n  - dense: { units: 2, activation: softmax }\ntraining:\n  early_stopping: { monitor: val_acc, patience: -1 }\n", "e.yaml");
        Assert.Contains(c.Diagnostics, d => d.Id == "SN1008" && d.Hint == "did you mean 'val_accuracy'?");
        Assert.Contains(c.Diagnostics, d => d.Id == "SN1007" && d.Message.Contains("patience"));
    }
}
