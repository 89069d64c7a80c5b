using SpecNet.Cli;

namespace SpecNet.Tests.Cli;

/// <summary>Runs the real command tree in-process with captured output.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public string All => Output + Error;
    }

    public static Result Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = SpecNetCli.Run(args, output, error);
        return new Result(code, output.ToString(), error.ToString());
    }
}
