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

    [Fact]
    public void Interrupted_and_resumed_run_ends_bit_identical()
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
            onStep: s => { if (s.Epoch == 2 && s.Step == 20) cancel.Cancel(); }, cancel: cancel.Token));
        Assert.Equal((2, 20), (stop.Epoch, stop.Step)); // mid-epoch: order, position, sums and random state all matter

        var resumed = new Trainer(model, ParameterSet.Initialize(model, 99), new CpuEngine(new ManagedBackend())) { Callbacks = [new Checkpointer(ckpt, 0, [])], ResumeFrom = ckpt };
        var resumedResult = resumed.Fit(train, test);
        Assert.Equal(Weights(full.Parameters), Weights(resumed.Parameters));
        Assert.Equal(fullResult.Epochs.Select(e => e.Loss), resumedResult.Epochs.Select(e => e.Loss));
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
    }

    /// <summary>A real child process, killed with SIGKILL mid-run; resuming from what it left reaches the uninterrupted run's weights.</summary>
    [SkippableFact]
    public void Killed_process_resumes_to_the_same_weights()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "needs POSIX signals");
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, trainCount: 1200, epochs: 6);
        Assert.Equal(0, CliRunner.Run("train", spec, "--output", dir.File("full.safetensors")).ExitCode);

        using var child = Child("train", spec, "--output", dir.File("killed.safetensors"), "--checkpoint-every", "3");
        var ckpt = dir.File("killed.checkpoint.safetensors");
        WaitFor(() => child.HasExited || File.Exists(ckpt) && new FileInfo(ckpt).LastWriteTimeUtc < DateTime.UtcNow, TimeSpan.FromSeconds(60));
        Skip.If(child.HasExited, "the child finished before it could be killed");
        Thread.Sleep(300);
        child.Kill(); // SIGKILL: no chance to clean up
        child.WaitForExit();
        Assert.True(File.Exists(ckpt));
        var resumed = CliRunner.Run("train", spec, "--output", dir.File("killed.safetensors"), "--checkpoint-every", "3", "--resume");
        Assert.True(resumed.ExitCode == 0, resumed.All);
        var full = SpecNet.Formats.SafeTensors.Read(dir.File("full.safetensors")).Tensors;
        var killed = SpecNet.Formats.SafeTensors.Read(dir.File("killed.safetensors")).Tensors;
        Assert.Equal(full.Select(t => t.Data), killed.Select(t => t.Data));
        Assert.Empty(Directory.GetFiles(dir.Path, ".*.tmp")); // a write the kill interrupted is cleaned up by the next one
    }

    /// <summary>Ctrl+C is SIGINT: the child writes a checkpoint, says how to resume, and exits 130.</summary>
    [SkippableFact]
    public void Sigint_writes_a_checkpoint_and_exits_130()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "needs POSIX signals");
        using var dir = new TempFolder();
        var spec = TestData.WriteSpecWithData(dir.Path, trainCount: 1200, epochs: 1000);
        using var child = Child("train", spec);
        var sawEpoch = new ManualResetEventSlim();
        child.OutputDataReceived += (_, e) => { if (e.Data?.StartsWith("Epoch 1/") == true) sawEpoch.Set(); };
        child.BeginOutputReadLine();
        var stderr = child.StandardError.ReadToEndAsync();
        Assert.True(sawEpoch.Wait(TimeSpan.FromSeconds(60)), "the child never finished an epoch");
        Assert.Equal(0, kill(child.Id, 2)); // SIGINT
        Assert.True(child.WaitForExit(30_000), "the child did not stop");
        Assert.Equal(130, child.ExitCode);
        var err = stderr.Result;
        Assert.Contains("checkpoint written to", err);
        Assert.Contains("Resume with: specnet train", err);
        Assert.True(File.Exists(dir.File("patterns.checkpoint.safetensors")));
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    private static Process Child(params string[] args)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var psi = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(typeof(SpecNetCli).Assembly.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    private static void WaitFor(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition() && clock.Elapsed < timeout) Thread.Sleep(20);
    }
}

public class EarlyStoppingTests
{
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
