using System.Diagnostics;

namespace SpecNet.Tests;

/// <summary>
/// Child processes the tests signal. A test run started as a background job (a non-interactive shell's `cmd &`, nohup)
/// ignores SIGINT, and every child inherits that: the Ctrl+C tests then saw their child train to the end and exit 0. Started
/// through coreutils' `env --default-signal=INT`, which execs the program in its place (the same process id), a child takes
/// SIGINT as a terminal's Ctrl+C would send it, however the tests were launched.
/// </summary>
public static class Children
{
    public static ProcessStartInfo Interruptible(string program, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("--default-signal=INT");
        info.ArgumentList.Add(program);
        foreach (var a in args) info.ArgumentList.Add(a);
        return info;
    }
}
