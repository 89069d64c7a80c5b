using System.Globalization;
using SpecNet.Formats;
using System.Net;
using System.Text;
using System.Text.Json;
using ScottPlot;

namespace SpecNet.Cli.Reports;

/// <summary>
/// A sweep's results (its results.json) as files: the metric against each parameter (log axes for ranges
/// that span a decade or more, categories for choices), a parallel-coordinates plot of every trial coloured
/// by its metric, and index.html with the ranked table.
/// </summary>
public static class SweepReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static IReadOnlyList<string> Write(string folder, JsonElement results)
    {
        OutputFolder.Create(folder, "report");
        var metric = results.GetProperty("metric").GetString()!;
        var trials = results.GetProperty("trials").EnumerateArray().Where(t => t.GetProperty("status").GetString() == "ok").ToList();
        var parameters = trials.Count > 0 ? trials[0].GetProperty("parameters").EnumerateObject().Select(p => p.Name).ToList() : [];
        double Metric(JsonElement t) => t.GetProperty(metric).GetDouble();
        var files = new List<string>();

        for (int p = 0; p < parameters.Count; p++)
        {
            var name = parameters[p];
            var values = trials.Select(t => t.GetProperty("parameters").GetProperty(name)).ToList();
            var plot = new Plot();
            if (values.All(v => v.ValueKind == JsonValueKind.Number))
            {
                var x = values.Select(v => v.GetDouble()).ToArray();
                bool log = x.All(v => v > 0) && x.Max() / x.Min() >= 10;
                var points = plot.Add.ScatterPoints(log ? x.Select(Math.Log10).ToArray() : x, trials.Select(Metric).ToArray());
                points.MarkerSize = 9;
                if (log)
                {
                    plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = v => Math.Pow(10, v).ToString("G3", Inv) };
                    plot.XLabel(name + " (log scale)");
                }
                else plot.XLabel(name);
            }
            else
            {
                var labels = values.Select(v => v.ToString()).Distinct().Order().ToList();
                var points = plot.Add.ScatterPoints(values.Select(v => (double)labels.IndexOf(v.ToString())).ToArray(), trials.Select(Metric).ToArray());
                points.MarkerSize = 9;
                plot.Axes.Bottom.SetTicks(Enumerable.Range(0, labels.Count).Select(i => (double)i).ToArray(), labels.ToArray());
                plot.XLabel(name);
            }
            plot.YLabel(metric);
            plot.Title($"{metric} against {name}");
            var file = $"parameter-{p + 1}.png";
            ReportFiles.Png(plot, Path.Combine(folder, file), 640, 420);
            files.Add(file);
        }

        if (parameters.Count > 0 && trials.Count > 0) files.Add(ParallelCoordinates(folder, trials, parameters, metric));

        var html = new StringBuilder();
        var title = WebUtility.HtmlEncode(results.GetProperty("sweep").GetString() ?? "sweep");
        html.Append($"<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}: SpecNet sweep</title>")
            .Append("<style>body{font-family:sans-serif;margin:2em;max-width:1200px}img{max-width:100%}table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #ddd}</style></head><body>")
            .Append($"<h1>{title}</h1><p>{trials.Count} trials ranked by {WebUtility.HtmlEncode(metric)} ({results.GetProperty("goal").GetString()}). Best: <b>{WebUtility.HtmlEncode(results.GetProperty("best").ToString())}</b>.</p>");
        if (results.TryGetProperty("note", out var note) && note.ValueKind == JsonValueKind.String) html.Append($"<p>{WebUtility.HtmlEncode(note.GetString())}</p>");
        foreach (var f in files) html.Append($"<img src=\"{f}\" alt=\"{f}\"> ");
        html.Append("<table><tr><th>rank</th><th>trial</th>");
        foreach (var p in parameters) html.Append($"<th>{WebUtility.HtmlEncode(p)}</th>");
        html.Append($"<th>{WebUtility.HtmlEncode(metric)}</th><th>test accuracy</th><th>params</th><th>train s</th></tr>");
        foreach (var t in trials)
        {
            html.Append($"<tr><td>{t.GetProperty("rank")}</td><td>{t.GetProperty("name").GetString()}</td>");
            foreach (var p in parameters) html.Append($"<td>{WebUtility.HtmlEncode(t.GetProperty("parameters").GetProperty(p).ToString())}</td>");
            html.Append(Inv, $"<td>{Metric(t):0.0000}</td><td>{100 * t.GetProperty("test_accuracy").GetDouble():0.00}%</td><td>{t.GetProperty("params").GetInt64():N0}</td><td>{t.GetProperty("train_seconds").GetDouble():0.0}</td></tr>");
        }
        html.Append("</table></body></html>");
        ReportFiles.Text(Path.Combine(folder, "index.html"), html.ToString());
        files.Add("index.html");
        return files;
    }

    /// <summary>One vertical axis per parameter (scaled to its range; log for ranges of a decade or more) and one for the metric; a line per trial, the best darkest.</summary>
    private static string ParallelCoordinates(string folder, List<JsonElement> trials, List<string> parameters, string metric)
    {
        var axes = parameters.Select(p => trials.Select(t => t.GetProperty("parameters").GetProperty(p)).ToList()).ToList();
        double[][] scaled = new double[axes.Count + 1][];
        for (int a = 0; a < axes.Count; a++)
        {
            var values = axes[a];
            double[] x;
            if (values.All(v => v.ValueKind == JsonValueKind.Number))
            {
                x = values.Select(v => v.GetDouble()).ToArray();
                if (x.All(v => v > 0) && x.Max() / x.Min() >= 10) x = x.Select(Math.Log10).ToArray();
            }
            else
            {
                var labels = values.Select(v => v.ToString()).Distinct().Order().ToList();
                x = values.Select(v => (double)labels.IndexOf(v.ToString())).ToArray();
            }
            scaled[a] = Normalize(x);
        }
        var m = trials.Select(t => t.GetProperty(metric).GetDouble()).ToArray();
        scaled[^1] = Normalize(m);
        var plot = new Plot();
        var order = Enumerable.Range(0, trials.Count).OrderBy(i => scaled[^1][i]).ToList();
        var xs = Enumerable.Range(0, axes.Count + 1).Select(i => (double)i).ToArray();
        var colormap = new ScottPlot.Colormaps.Viridis();
        foreach (var i in order)
        {
            var line = plot.Add.ScatterLine(xs, scaled.Select(axis => axis[i]).ToArray());
            line.Color = colormap.GetColor(scaled[^1][i]);
            line.LineWidth = 2;
        }
        plot.Axes.Bottom.SetTicks(xs, parameters.Append(metric).ToArray());
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(0.25);
        plot.YLabel("position in its range");
        plot.Title("Trials in parallel coordinates (colour: " + metric + ")");
        ReportFiles.Png(plot, Path.Combine(folder, "parallel.png"), 900, 460);
        return "parallel.png";
    }

    private static double[] Normalize(double[] x)
    {
        double lo = x.Min(), hi = x.Max();
        return x.Select(v => hi > lo ? (v - lo) / (hi - lo) : 0.5).ToArray();
    }
}
