using System.CommandLine;
using SpecNet.Checking;
using SpecNet.Data;

namespace SpecNet.Cli.Commands;

/// <summary>`specnet data get NAME` / `specnet data where NAME`: the named datasets.</summary>
public static class DataCommand
{
    public static Command Create()
    {
        var get = new Command("get", "Find or fetch a named dataset (mnist, fashion-mnist) into the cache folder.\n\nExample: specnet data get mnist");
        var name = new Argument<string>("name") { Description = string.Join(" or ", DataSpec.NamedDatasets) };
        get.Add(name);
        get.SetAction(result =>
        {
            var err = result.InvocationConfiguration.Error;
            var progress = new Progress<double>(f => err.Write($"\r  {(int)(f * 100),3}%"));
            var folder = NamedDatasets.Fetch(result.GetValue(name)!, line => err.WriteLine(line), progress);
            var (train, test) = NamedDatasets.Load(result.GetValue(name)!, folder);
            result.InvocationConfiguration.Output.WriteLine($"{result.GetValue(name)}: {train.Count:N0} train / {test.Count:N0} test images of {train.Shape} in {folder}");
            return ExitCodes.Ok;
        });
        var command = new Command("data", "Named datasets: where they are, and fetching them.") { get };
        return command;
    }
}
