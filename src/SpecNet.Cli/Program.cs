namespace SpecNet.Cli;

public static class Program
{
    public static int Main(string[] args) => SpecNetCli.Run(args, Console.Out, Console.Error);
}
