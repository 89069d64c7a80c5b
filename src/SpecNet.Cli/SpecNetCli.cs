using SpecNet.Diagnostics;
using System.CommandLine;
using SpecNet.Checking;
using SpecNet.Cli.Commands;

namespace SpecNet.Cli;

/// <summary>Exit codes: the same meaning on every command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A run-time, file or data problem (missing file, unreadable data, bad weights).</summary>
    public const int Failure = 1;
    /// <summary>The spec has errors (or, for verify, the weights do not fit it).</summary>
    public const int SpecErrors = 2;
    /// <summary>Stopped by Ctrl+C or SIGTERM (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;
}

internal sealed class PrintVersion : System.CommandLine.Invocation.SynchronousCommandLineAction
{
    public static string Version =>
        typeof(SpecNet.Formats.WeightsFile).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? SpecNet.Formats.WeightsFile.Version;

    public override int Invoke(ParseResult parseResult)
    {
        parseResult.InvocationConfiguration.Output.WriteLine(Version);
        return ExitCodes.Ok;
    }
}

/// <summary>The command tree. Commands are thin: they parse arguments, call the library, and render.</summary>
public static class SpecNetCli
{
    public static RootCommand Build()
    {
        var root = new RootCommand("SpecNet: declare a neural network in YAML, check it, train it, run it.");
        // --version prints SpecNet's own version, also when the command tree runs inside another program (tests)
        root.Options.OfType<VersionOption>().Single().Action = new PrintVersion();
        root.Add(CheckCommand.Create());
        root.Add(LayersCommand.Create());
        root.Add(TrainCommand.Create());
        root.Add(EvalCommand.Create());
        root.Add(PredictCommand.Create());
        root.Add(DataCommand.Create());
        root.Add(BenchCommand.Create());
        root.Add(InspectCommand.Create());
        root.Add(VerifyCommand.Create());
        root.Add(ExportCommand.Create());
        root.Add(ImportCommand.Create());
        root.Add(DiffCommand.Create());
        root.Add(SweepCommand.Create());
        root.Add(ReportCommand.Create());
        root.Add(SchemaCommand.Create());
        root.Add(InitCommand.Create());
        return root;
    }

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        try
        {
            return Build().Parse(args).Invoke(config);
        }
        catch (SpecErrorsException e)
        {
            error.Write(e.Rendered);
            return ExitCodes.SpecErrors;
        }
        catch (SpecNetException e)
        {
            error.WriteLine($"error: {e.Message}");
            if (e.Hint is not null) error.WriteLine($"  = hint: {e.Hint}");
            return ExitCodes.Failure;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("interrupted");
            return ExitCodes.Interrupted;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("SPECNET_DEBUG") is null)
        {
            error.WriteLine($"error: internal error ({e.GetType().Name}): {e.Message}");
            error.WriteLine("  = hint: this is a bug in SpecNet; set SPECNET_DEBUG=1 to see where it happened, and report it");
            return ExitCodes.Failure;
        }
    }
}
