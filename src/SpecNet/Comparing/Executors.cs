using System.Diagnostics;
using System.Globalization;
using System.Text;
using SpecNet.Diagnostics;
using SpecNet.Formats;

namespace SpecNet.Comparing;

/// <summary>How to start specnet itself: the program and the arguments before the command (dotnet and specnet.dll, or the specnet executable).</summary>
public sealed record SpecnetCommand(string Program, IReadOnlyList<string> Prefix)
{
    public string Quoted(IEnumerable<string> arguments) => string.Join(" ", new[] { Program }.Concat(Prefix).Concat(arguments).Select(Shell));

    /// <summary>A word for /bin/sh, single-quoted unless plain; "$VARIABLE" words stay expandable.</summary>
    public static string Shell(string word) =>
        word.StartsWith('$') && word.Skip(1).All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '{' or '}' or ':' or '-') ? $"\"{word}\""
        : word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "/._-=+,:@%".Contains(c)) ? word
        : "'" + word.Replace("'", "'\\''") + "'";
}

/// <summary>
/// Runs a list of indexed specnet command lines (a sweep's trials, a diff's training runs): each is
/// <see cref="Template"/> with "{index}" replaced, writing its output to <see cref="LogTemplate"/>; a job is
/// finished when <see cref="Done"/> says its result exists. Executors only start, watch and stop jobs: a job
/// that exits without a result is reported failed, never retried silently.
/// </summary>
public sealed record JobBatch(string Name, IReadOnlyList<int> Indices, IReadOnlyList<string> Template, string LogTemplate, Func<int, bool> Done, int Threads)
{
    public const string Index = "{index}";
    public string[] Arguments(string index) => Template.Select(a => a.Replace(Index, index)).ToArray();
    public string LogPath(int index) => LogTemplate.Replace(Index, index.ToString("D3", CultureInfo.InvariantCulture));
}

public interface IExecutor
{
    string Describe { get; }

    /// <summary>Runs every job of the batch; <paramref name="finished"/> is called as each one ends (with whether it left a result).</summary>
    void Run(JobBatch batch, Action<int, bool> finished, Action<string> log, CancellationToken cancel);
}

/// <summary>Up to <see cref="Workers"/> jobs at once on this machine, each a specnet process with its share of the cores.</summary>
public sealed class LocalExecutor(SpecnetCommand command, int workers) : IExecutor
{
    public int Workers { get; } = Math.Max(1, workers);
    public string Describe => $"local, {Workers} worker{(Workers == 1 ? "" : "s")}";

    public void Run(JobBatch batch, Action<int, bool> finished, Action<string> log, CancellationToken cancel)
    {
        var queue = new Queue<int>(batch.Indices);
        var running = new List<(int Index, Process Process)>();
        var gate = new object();
        try
        {
            while (queue.Count > 0 || running.Count > 0)
            {
                cancel.ThrowIfCancellationRequested();
                while (running.Count < Workers && queue.Count > 0)
                {
                    int index = queue.Dequeue();
                    running.Add((index, Start(batch, index)));
                }
                foreach (var job in running.Where(j => j.Process.HasExited).ToList())
                {
                    running.Remove(job);
                    job.Process.WaitForExit();
                    job.Process.Dispose();
                    lock (gate) finished(job.Index, batch.Done(job.Index));
                }
                Thread.Sleep(50);
            }
        }
        finally
        {
            foreach (var (_, process) in running)
            {
                try { if (!process.HasExited) process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                process.Dispose();
            }
        }
    }

    private Process Start(JobBatch batch, int index)
    {
        var info = new ProcessStartInfo(command.Program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in command.Prefix.Concat(batch.Arguments(index.ToString(CultureInfo.InvariantCulture)))) info.ArgumentList.Add(a);
        info.Environment["SPECNET_THREADS"] = batch.Threads.ToString(CultureInfo.InvariantCulture);
        var logPath = batch.LogPath(index);
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var logFile = new StreamWriter(logPath, append: false) { AutoFlush = true };
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (logFile) logFile.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (logFile) logFile.WriteLine(e.Data); };
        process.Exited += (_, _) => { process.WaitForExit(); lock (logFile) logFile.Dispose(); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}

/// <summary>What passes through to sbatch: partition, time limit, memory, CPUs per task, and anything else.</summary>
public sealed record SlurmOptions(string? Partition = null, string? Time = null, string? Memory = null, IReadOnlyList<string>? Extra = null);

/// <summary>
/// One Slurm job array through sbatch: task K runs job K, its output in the job's log. Progress from the
/// result files as tasks finish and from squeue; Ctrl+C cancels the array with scancel. A task that ends
/// without a result (a killed node, a time limit) is reported with sacct's state where accounting is on.
/// </summary>
public sealed class SlurmExecutor(SpecnetCommand command, string folder, SlurmOptions options, TimeSpan? poll = null) : IExecutor
{
    public string Describe => "slurm" + (options.Partition is { } p ? $", partition {p}" : "");
    private readonly TimeSpan _poll = poll ?? TimeSpan.FromSeconds(1);

    public void Run(JobBatch batch, Action<int, bool> finished, Action<string> log, CancellationToken cancel)
    {
        if (batch.Indices.Count == 0) return;
        var script = WriteScript(batch);
        var arguments = new List<string> { "--parsable", $"--array={Ranges(batch.Indices)}", $"--cpus-per-task={batch.Threads}", $"--job-name=specnet-{batch.Name}" };
        if (options.Partition is { } partition) arguments.Add($"--partition={partition}");
        if (options.Time is { } time) arguments.Add($"--time={time}");
        if (options.Memory is { } memory) arguments.Add($"--mem={memory}");
        arguments.AddRange(options.Extra ?? []);
        arguments.Add(script);
        var (code, output, error) = Tool("sbatch", arguments);
        if (code != 0) throw new SpecNetException($"sbatch refused the job array: {error.Trim()}{output.Trim()}", "check that Slurm is running (sinfo) and the options are valid for this cluster");
        var jobId = output.Trim().Split(';')[0];
        log($"submitted Slurm job array {jobId} ({batch.Indices.Count} tasks): squeue -j {jobId} shows them; scancel {jobId} stops them");

        var pending = new HashSet<int>(batch.Indices);
        try
        {
            while (pending.Count > 0)
            {
                cancel.ThrowIfCancellationRequested();
                foreach (var index in pending.Where(batch.Done).ToList())
                {
                    pending.Remove(index);
                    finished(index, true);
                }
                if (pending.Count == 0) break;
                var (queued, lines, _) = Tool("squeue", ["-h", "-j", jobId, "-o", "%i %T"]);
                bool inQueue = queued == 0 && lines.Split('\n').Any(l => l.Trim().Length > 0);
                if (!inQueue)
                {
                    Thread.Sleep(_poll);                       // a result written just before the task left the queue
                    foreach (var index in pending.ToList())
                    {
                        pending.Remove(index);
                        bool done = batch.Done(index);
                        if (!done) log($"task {index} of job {jobId} ended without a result{State(jobId, index)}: see {batch.LogPath(index)}");
                        finished(index, done);
                    }
                    break;
                }
                Thread.Sleep(_poll);
            }
        }
        catch (OperationCanceledException)
        {
            Tool("scancel", [jobId]);
            log($"cancelled Slurm job {jobId}");
            throw;
        }
    }

    /// <summary>"0-3,7,9-10": sbatch's array syntax for the indices.</summary>
    public static string Ranges(IReadOnlyList<int> indices)
    {
        var sorted = indices.Distinct().Order().ToList();
        var parts = new List<string>();
        for (int i = 0; i < sorted.Count;)
        {
            int j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1) j++;
            parts.Add(i == j ? $"{sorted[i]}" : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }
        return string.Join(",", parts);
    }

    private string WriteScript(JobBatch batch)
    {
        Directory.CreateDirectory(Path.Combine(folder, "slurm"));
        var path = Path.Combine(folder, "slurm", $"{batch.Name}.sbatch");
        var log = batch.LogTemplate.Replace(JobBatch.Index, "%3a");
        Directory.CreateDirectory(Path.GetDirectoryName(batch.LogPath(0))!);
        var cache = Environment.GetEnvironmentVariable("SPECNET_CACHE") is { Length: > 0 } c ? c : Data.NamedDatasets.UserCache;
        var text = new StringBuilder()
            .Append("#!/bin/sh\n")
            .Append($"# written by specnet: task K runs job K of '{batch.Name}'\n")
            .Append($"#SBATCH --output={log}\n")
            .Append($"export SPECNET_CACHE={SpecnetCommand.Shell(cache)}\n")
            .Append("export SPECNET_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n")
            .Append("exec ").Append(command.Quoted(batch.Arguments("$SLURM_ARRAY_TASK_ID"))).Append('\n')
            .ToString();
        AtomicFile.Write(path, s => s.Write(Encoding.UTF8.GetBytes(text)));
        return path;
    }

    private static string State(string jobId, int index)
    {
        var (code, output, _) = Tool("sacct", ["-n", "-X", "-P", "-j", $"{jobId}_{index}", "-o", "State,ExitCode"]);
        var line = output.Split('\n').FirstOrDefault(l => l.Trim().Length > 0)?.Trim();
        return code == 0 && line is not null ? $" (Slurm state {line.Replace("|", ", exit ")})" : "";
    }

    /// <summary>Runs a Slurm tool, returning its exit code and output; a missing tool is a clear error.</summary>
    public static (int Code, string Output, string Error) Tool(string name, IReadOnlyList<string> arguments)
    {
        var info = new ProcessStartInfo(name) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(info)!;
            var error = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output, error.Result);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new SpecNetException($"'{name}' is not installed here: the slurm executor needs Slurm's tools (sbatch, squeue, scancel)",
                "run on a Slurm login node, or use --executor local");
        }
    }
}
