using SpecNet.Diagnostics;
using System.Diagnostics;
using System.Runtime.InteropServices;
using SpecNet.Checking;
using SpecNet.Cli;
using SpecNet.Data;
using SpecNet.Kernels;
using SpecNet.Planning;
using SpecNet.Tests.Cli;
using SpecNet.Training;

namespace SpecNet.Tests.Training;

/// <summary>Interrupted runs resume bit-identical; a killed process leaves a usable checkpoint; signals are honoured.</summary>
public class CheckpointTests
{
    private static (ModelSpec Model, Dataset Train, Dataset Test) Setup(string folder, int epochs = 3, string? layers = null)
    {
        var spec = TestData.WriteSpecWithData(folder, trainCount: 1200, epochs: epochs, layers: layers);
        var model = SpecCompiler.CompileFile(spec).Model!;
        var (train, test) = DataLoader.Load(model, _ => { });
        return (model, train, test!);
    }

    private static byte[][] Weights(ParameterSet p) => p.Slots.Select(s => MemoryMarshal.AsBytes(s.Value.AsSpan()).ToArray()).ToArray();

    /// <summary>Interrupted mid-epoch, or between two epochs (before the next epoch's order is drawn).</summary>
    [Theory]
    [InlineData(20)]
    [InlineData(0)]
    public void Interrupted_and_resumed_run_ends_bit_identical(int atStep)
    {
        using var dir = new TempFolder();
        // dropout and batch norm too: their random and moving state must survive the checkpoint
        var (model, train, test) = Setup(dir.Path, layers: """
              - conv2d: { filters: 4, kernel_size: 3 }
              - batch_norm
              - relu
              - max_pool2d: { pool_size: 2 }
              - flatten
              - dropout: { rate: 0.3 }
              - dense: { units: 3, activation: softmax }
            """);
        var full = new Trainer(model, ParameterSet.Initialize(model, 3), new CpuEngine(new ManagedBackend()));
        var fullResult = full.Fit(train, test);

        var ckpt = dir.File("run.checkpoint.safetensors");
        using var cancel = new CancellationTokenSource();
        var first = new Trainer(model, ParameterSet.Initialize(model, 3), new CpuEngine(new ManagedBackend())) { Callbacks = [new Checkpointer(ckpt, 0, [])] };
        var stop = Assert.Throws<TrainingInterruptedException>(() => first.Fit(train, test,
            onEpoch: e => { if (atStep == 0 && e.Epoch == 1) cancel.Cancel(); },
            onStep: s => { if (atStep > 0 && s.Epoch == 2 && s.Step == atStep) cancel.Cancel(); }, cancel: cancel.Token));
        Assert.Equal((2, atStep), (stop.Epoch, stop.Step)); // order, position, sums and random state all matter

        // Resumed from fresh parameters of another seed: only the checkpoint can bring them back.
        var resumed = new Trainer(model, ParameterSet.Initialize(model, 99), new CpuEngine(new ManagedBackend())) { Callbacks = [new Checkpointer(ckpt, 0, [])], ResumeFrom = ckpt };
        var epochsAfterResume = new List<int>();
        var resumedResult = resumed.Fit(train, test, onEpoch: e => epochsAfterResume.Add(e.Epoch));
        Assert.Equal([2, 3], epochsAfterResume); // it went on from epoch 2; it did not start over
        Assert.Equal(Weights(full.Parameters), Weights(resumed.Parameters));
        Assert.Equal(fullResult.Epochs.Select(e => e.Loss), resumedResult.Epochs.Select(e => e.Loss));
    }

    /// <summary>`train SPEC` run again without --resume after an interruption would replace the checkpoint, and the way to resume.</summary>
    [Fact]
    public void A_new_run_will_not_write_over_an_unfinished_runs_checkpoint()
    {
        using var dir = new TempFolder();
        var (model, train, test) = Setup(dir.Path, epochs: 2);
        var ckpt = dir.File("patterns.checkpoint.safetensors");                  // where `train` keeps the spec's checkpoint
        using var cancel = new CancellationTokenSource();
        Assert.Throws<TrainingInterruptedException>(() => new Trainer(model, ParameterSet.Initialize(model, model.Training.Seed), new CpuEngine(new ManagedBackend()))
            { Callbacks = [new Checkpointer(ckpt, 0, [])] }.Fit(train, test, onStep: s => { if (s.Epoch == 2 && s.Step == 20) cancel.Cancel(); }, cancel: cancel.Token));
        var saved = File.ReadAllBytes(ckpt);

        var again = CliRunner.Run("train", model.SourcePath);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains($"{ckpt}: holds an unfinished run of this spec (epoch 2 of 2, step 20)", again.Error);
        Assert.Contains("--resume", again.Error);
        Assert.Equal(saved, File.ReadAllBytes(ckpt));

        var resumed = CliRunner.Run("train", model.SourcePath, "--resume");
        Assert.True(resumed.ExitCode == 0, resumed.All);
        var fresh = CliRunner.Run("train", model.SourcePath, "--quiet");                 // a finished run's checkpoint is trained over, as before
        Assert.True(fresh.ExitCode == 0, fresh.All);
        // Another spec text in the same place is another run: its checkpoint is not this one's to keep
        File.WriteAllBytes(ckpt, saved);
        File.AppendAllText(model.SourcePath, "\n# edited\n");
        Assert.Equal(0, CliRunner.Run("train", model.SourcePath, "--quiet").ExitCode);
    }

    [Fact]
    public void Checkpoint_of_another_spec_is_refused_saying_what_differs()
    {
        using var dir = new TempFolder();
        var (model, train, _) = Setup(dir.Path, epochs: 1);
        var ckpt = dir.File("c.safetensors");
        new Trainer(model, ParameterSet.Initialize(model, 3), new CpuEngine(new ManagedBackend())) { Callbacks = [new Checkpointer(ckpt, 0, [])] }.Fit(train, null);
        var other = SpecCompiler.Compile(File.ReadAllText(model.SourcePath).Replace("units: 16", "units: 8"), model.SourcePath).Model!;
        var e = Assert.Throws<SpecNetException>(() =>
            new Trainer(other, ParameterSet.Initialize(other, 3), new CpuEngine(new ManagedBackend())) { ResumeFrom = ckpt }.Fit(train, null));
        Assert.Contains("was written for another spec", e.Message);
        Assert.Contains("layer 'dense_1': units=16 -> 8", e.Message.Replace("units 16 -> 8", "units=16 -> 8"));
    }

    [Fact]
    public void Determinism_check_reports_identical_hashes()
    {
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path);
        var r = CliRunner.Run("train", spec, "--check-determinism");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("identical, deterministic", r.Output);
        var hashes = System.Text.RegularExpressions.Regex.Matches(r.Output, "[0-9a-f]{16}").Select(m => m.Value).ToList();
        Assert.Equal(3, hashes.Count);
        Assert.NotEqual(hashes[0], hashes[1]); // the weights moved: a trainer that did nothing would be 'deterministic' too
        Assert.Equal(hashes[1], hashes[2]);
    }

    /// <summary>
    /// A real child process, killed with SIGKILL mid-run (alive when killed, dead by signal 9): resuming from
    /// what it left trains only the epochs that were missing and reaches the uninterrupted run's weights.
    /// </summary>
    [SkippableFact]
    public void Killed_process_resumes_to_the_same_weights()
    {
        Optional.Require(OperatingSystem.IsLinux(), "needs POSIX signals");
        using var dir = new TempFolder();
        // Long enough that a test process slowed by other tests still kills the child mid-run.
        const int epochs = 40;
        var spec = TestData.WriteSpecWithData(dir.Path, trainCount: 1500, epochs: epochs);
        Assert.Equal(0, CliRunner.Run("train", spec, "--output", dir.File("full.safetensors")).ExitCode);

        using var child = Child("train", spec, "--output", dir.File("killed.safetensors"), "--checkpoint-every", "7", "--json");
        // Read on this thread, not through OutputDataReceived: under a full test run the thread pool can deliver
        // a line seconds late, by which time the child may have finished.
        Assert.True(WaitForLine(child, l => l.Contains("\"event\":\"checkpoint\"") && l.Contains("\"epoch\":2,") && !l.Contains("\"step\":0")),
            "the child wrote no checkpoint in epoch 2");   // mid-epoch 2: a checkpoint that is not at an epoch's end
        _ = child.StandardOutput.ReadToEndAsync();   // drain the rest, so the child never blocks on a full pipe
        Assert.False(child.HasExited, "the child finished before it could be killed");
        Assert.Equal(0, kill(child.Id, 9)); // SIGKILL: no chance to clean up
        Assert.True(child.WaitForExit(30_000));
        Assert.Equal(128 + 9, child.ExitCode); // it died of the signal, it did not finish

        var resumed = CliRunner.Run("train", spec, "--output", dir.File("killed.safetensors"), "--checkpoint-every", "7", "--resume");
        Assert.True(resumed.ExitCode == 0, resumed.All);
        int lines = resumed.Output.Split('\n').Count(l => l.StartsWith("Epoch "));
        Assert.InRange(lines, 1, epochs - 1); // went on from the checkpoint: fewer epochs than a fresh run
        Assert.Contains($"Epoch {epochs}/{epochs}", resumed.Output);
        var full = SpecNet.Formats.SafeTensors.Read(dir.File("full.safetensors")).Tensors;
        var killed = SpecNet.Formats.SafeTensors.Read(dir.File("killed.safetensors")).Tensors;
        Assert.Equal(full.Select(t => t.Data), killed.Select(t => t.Data));
        Assert.Empty(Directory.GetFiles(dir.Path, ".*.tmp")); // a write the kill interrupted is cleaned up by the next one
    }

    /// <summary>
    /// Ctrl+C (SIGINT) and SIGTERM: the child finishes its step, writes a checkpoint, says how to resume and
    /// exits 130; `--resume` then trains only what was left and ends with the uninterrupted run's weights.
    /// </summary>
    [SkippableTheory]
    [InlineData(2)]  // SIGINT
    [InlineData(15)] // SIGTERM
    public void Signalled_run_checkpoints_exits_130_and_resumes_to_the_same_weights(int signal)
    {
        Optional.Require(OperatingSystem.IsLinux(), "needs POSIX signals");
        using var dir = new TempFolder();
        const int epochs = 30; // long enough that a test process slowed by other tests still signals the child mid-run
        var spec = TestData.WriteSpecWithData(dir.Path, trainCount: 1500, epochs: epochs);
        Assert.Equal(0, CliRunner.Run("train", spec, "--output", dir.File("full.safetensors")).ExitCode);

        using var child = Child("train", spec);
        var stderr = child.StandardError.ReadToEndAsync();
        Assert.True(WaitForLine(child, l => l.StartsWith("Epoch 1/")), "the child never finished an epoch");
        _ = child.StandardOutput.ReadToEndAsync();   // drain the rest, so the child never blocks on a full pipe
        Assert.False(child.HasExited, "the child finished before the signal");
        Assert.Equal(0, kill(child.Id, signal));
        Assert.True(child.WaitForExit(30_000), "the child did not stop");
        var err = stderr.Result;
        Assert.True(child.ExitCode == 130, $"exit code {child.ExitCode}; stderr: {err}");
        Assert.Contains("checkpoint written to", err);
        Assert.Contains("Resume with: specnet train", err);
        Assert.True(File.Exists(dir.File("patterns.checkpoint.safetensors")));

        var resumed = CliRunner.Run("train", spec, "--resume");
        Assert.True(resumed.ExitCode == 0, resumed.All + "\nchild's stderr: " + err);
        Assert.InRange(resumed.Output.Split('\n').Count(l => l.StartsWith("Epoch ")), 1, epochs - 1);
        var full = SpecNet.Formats.SafeTensors.Read(dir.File("full.safetensors")).Tensors;
        var interrupted = SpecNet.Formats.SafeTensors.Read(dir.File("patterns.safetensors")).Tensors;
        Assert.Equal(full.Select(t => t.Data), interrupted.Select(t => t.Data));
    }

    /// <summary>Reads the child's output until a line matches (true) or it ends (false).</summary>
    private static bool WaitForLine(Process child, Func<string, bool> match)
    {
        while (child.StandardOutput.ReadLine() is { } line)
            if (match(line)) return true;
        return false;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    private static Process Child(params string[] args)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        return Process.Start(Children.Interruptible(dotnet, [typeof(SpecNetCli).Assembly.Location, .. args]))!;
    }
}
