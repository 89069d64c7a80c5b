using System.Globalization;
using SpecNet.Formats;
using System.Net;
using System.Text;
using ScottPlot;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SpecNet.Checking;
using SpecNet.Data;
using SpecNet.Planning;
using SpecNet.Training;

namespace SpecNet.Cli.Reports;

/// <summary>One model's curves for a plot: its name and its epochs.</summary>
/// <param name="Held">what the dashed curves measure: "val" (validation data) or "test"</param>
public sealed record Curves(string Name, IReadOnlyList<EpochReport> Epochs, string Held = "test")
{
    public Curves(ModelSpec model, string name, IReadOnlyList<EpochReport> epochs) : this(name, epochs, HeldOf(model)) { }

    /// <summary>What a model's per-epoch metrics were measured on: "val" when training held examples out, else "test".</summary>
    public static string HeldOf(ModelSpec model) => model.Data?.HasValidation == true ? "val" : "test";
}

/// <summary>
/// A run's report as files: learning curves (loss and accuracy, training and test, per epoch) and the
/// confusion matrix as PNG (ScottPlot), the misclassified test examples as an image grid, and an HTML
/// page that shows them with the spec's summary. `diff --report` overlays two models' curves.
/// </summary>
public static class RunReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <param name="set">which examples <paramref name="test"/> holds: "test", "validation" or "training"</param>
    public static IReadOnlyList<string> Write(string folder, ModelSpec model, IReadOnlyList<EpochReport> history, Dataset test, Evaluation evaluation, string set = "test")
    {
        OutputFolder.Create(folder, "report");
        var files = new List<string>();
        if (history.Count > 0)
        {
            WriteCurves(Path.Combine(folder, "loss.png"), [new Curves(model, model.Name, history)], loss: true);
            WriteCurves(Path.Combine(folder, "accuracy.png"), [new Curves(model, model.Name, history)], loss: false);
            files.AddRange(["loss.png", "accuracy.png"]);
            if (history.All(e => e.LearningRate is not null))
            {
                WriteLearningRate(Path.Combine(folder, "learning_rate.png"), [new Curves(model.Name, history)]);
                files.Add("learning_rate.png");
            }
        }
        WriteConfusion(Path.Combine(folder, "confusion.png"), evaluation.Confusion, model.Name, test.ClassNames);
        var wrong = Enumerable.Range(0, test.Count).Where(i => evaluation.Predictions[i] != test.Labels[i]).Take(48).ToList();
        files.Add("confusion.png");
        bool pictures = !test.Shape.IsFlat;      // a flat input's examples are features: listed, not drawn
        if (pictures)
        {
            WriteGrid(Path.Combine(folder, "misclassified.png"), test, wrong);
            files.Add("misclassified.png");
        }

        var html = new StringBuilder();
        html.Append($"<!doctype html><html><head><meta charset=\"utf-8\"><title>{Esc(model.Name)}: SpecNet report</title>");
        html.Append("<style>body{font-family:sans-serif;margin:2em;max-width:1100px}pre{background:#f6f6f6;padding:1em;overflow:auto}img{max-width:100%}")
            .Append("table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #ddd}.grid img{width:56px;image-rendering:pixelated;margin:2px}</style></head><body>");
        html.Append($"<h1>{Esc(model.Name)}</h1><p>{char.ToUpperInvariant(set[0]) + set[1..]} set: {test.Count:N0} examples. Loss {evaluation.Loss.ToString("0.0000", Inv)}, accuracy <b>{(100 * evaluation.Accuracy).ToString("0.00", Inv)}%</b>.</p>");
        if (history.Count > 0)
        {
            html.Append("<h2>Learning curves</h2><img src=\"loss.png\" alt=\"loss per epoch\"> <img src=\"accuracy.png\" alt=\"accuracy per epoch\">");
            if (files.Contains("learning_rate.png")) html.Append(" <img src=\"learning_rate.png\" alt=\"learning rate per epoch\">");
            var held = Curves.HeldOf(model);
            html.Append($"<table><tr><th>epoch</th><th>loss</th><th>accuracy</th><th>{held} loss</th><th>{held} accuracy</th><th>learning rate</th><th>seconds</th><th>images/s</th></tr>");
            foreach (var e in history)
                html.Append(Inv, $"<tr><td>{e.Epoch}</td><td>{e.Loss:0.0000}</td><td>{e.Accuracy:0.0000}</td><td>{e.TestLoss:0.0000}</td><td>{e.TestAccuracy:0.0000}</td><td>{e.LearningRate:G4}</td><td>{e.Seconds:0.0}</td><td>{e.ImagesPerSecond:N0}</td></tr>");
            html.Append("</table>");
        }
        html.Append("<h2>Confusion matrix</h2><img src=\"confusion.png\" alt=\"confusion matrix\">");
        html.Append("<table><tr><th>class</th><th>accuracy</th></tr>");
        for (int c = 0; c < evaluation.Classes; c++)
            html.Append(Inv, $"<tr><td>{Esc(Label(test, c))}</td><td>{(double.IsNaN(evaluation.PerClassAccuracy[c]) ? "-" : (100 * evaluation.PerClassAccuracy[c]).ToString("0.00", Inv) + "%")}</td></tr>");
        html.Append("</table>");
        html.Append($"<h2>Misclassified {set} examples ({test.Count - (int)Math.Round(evaluation.Accuracy * test.Count):N0} in all; the first {wrong.Count})</h2>");
        if (pictures)
        {
            html.Append("<img src=\"misclassified.png\" alt=\"misclassified examples\"><div class=\"grid\">");
            foreach (var i in wrong)
                html.Append($"<figure style=\"display:inline-block;margin:4px;text-align:center\"><img src=\"data:image/png;base64,{Convert.ToBase64String(Png(test, i))}\"><figcaption>#{i}: {Esc(Label(test, test.Labels[i]))} → {Esc(Label(test, evaluation.Predictions[i]))}</figcaption></figure>");
            html.Append("</div>");
        }
        else
        {
            int shown = Math.Min(test.Shape.Size, 12);
            html.Append("<table><tr><th>#</th><th>true</th><th>predicted</th>").Append(string.Concat(Enumerable.Range(0, shown).Select(f => $"<th>x{f}</th>")))
                .Append(test.Shape.Size > shown ? "<th>...</th>" : "").Append("</tr>");
            foreach (var i in wrong)
                html.Append($"<tr><td>{i}</td><td>{Esc(Label(test, test.Labels[i]))}</td><td>{Esc(Label(test, evaluation.Predictions[i]))}</td>")
                    .Append(string.Concat(test.Values(i).Take(shown).Select(v => $"<td>{v.ToString("G4", Inv)}</td>"))).Append(test.Shape.Size > shown ? "<td></td>" : "").Append("</tr>");
            html.Append("</table>");
        }
        html.Append("<h2>Spec</h2><pre>").Append(Esc(ModelSummary.ToText(model))).Append("</pre><pre>").Append(Esc(model.SourceText)).Append("</pre></body></html>");
        ReportFiles.Text(Path.Combine(folder, "index.html"), html.ToString());
        files.Add("index.html");
        return files;
    }

    /// <summary>Loss or accuracy per epoch, training (solid) and validation or test (dashed), one colour per model.</summary>
    public static void WriteCurves(string path, IReadOnlyList<Curves> models, bool loss)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int m = 0; m < models.Count; m++)
        {
            var epochs = models[m].Epochs;
            double[] x = epochs.Select(e => (double)e.Epoch).ToArray();
            var color = palette.GetColor(m);
            var train = plot.Add.Scatter(x, epochs.Select(e => loss ? e.Loss : e.Accuracy).ToArray());
            train.Color = color;
            train.LegendText = $"{models[m].Name} train";
            if (epochs.All(e => (loss ? e.TestLoss : e.TestAccuracy) is not null))
            {
                var test = plot.Add.Scatter(x, epochs.Select(e => (loss ? e.TestLoss : e.TestAccuracy)!.Value).ToArray());
                test.Color = color;
                test.LinePattern = LinePattern.Dashed;
                test.LegendText = $"{models[m].Name} {models[m].Held}";
            }
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(Math.Max(1, models.Max(m => m.Epochs.Count) / 10));
        plot.Title(loss ? "Loss per epoch" : "Accuracy per epoch");
        plot.XLabel("epoch");
        plot.YLabel(loss ? "loss" : "accuracy");
        plot.ShowLegend();
        ReportFiles.Png(plot, path, 720, 440);
    }

    /// <summary>The learning rate in effect at the end of each epoch, one line per model.</summary>
    public static void WriteLearningRate(string path, IReadOnlyList<Curves> models)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int m = 0; m < models.Count; m++)
        {
            var epochs = models[m].Epochs.Where(e => e.LearningRate is not null).ToList();
            var line = plot.Add.Scatter(epochs.Select(e => (double)e.Epoch).ToArray(), epochs.Select(e => e.LearningRate!.Value).ToArray());
            line.Color = palette.GetColor(m);
            line.LegendText = models[m].Name;
        }
        plot.Title("Learning rate per epoch");
        plot.XLabel("epoch");
        plot.YLabel("learning rate");
        plot.ShowLegend();
        ReportFiles.Png(plot, path, 720, 440);
    }

    /// <summary>Rows: true class; columns: predicted; colour: the share of the true class. Classes by name when they have names.</summary>
    public static void WriteConfusion(string path, int[,] confusion, string name, IReadOnlyList<string>? classNames = null)
    {
        int k = confusion.GetLength(0);
        var share = new double[k, k];
        for (int r = 0; r < k; r++)
        {
            double total = Enumerable.Range(0, k).Sum(c => confusion[r, c]);
            for (int c = 0; c < k; c++) share[r, c] = total == 0 ? 0 : confusion[r, c] / total;
        }
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(share);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        for (int r = 0; r < k; r++)
            for (int c = 0; c < k; c++)
            {
                var text = plot.Add.Text(confusion[r, c].ToString(Inv), c, k - 1 - r);
                text.LabelFontColor = share[r, c] > 0.5 ? Colors.Black : Colors.White;
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = k > 12 ? 9 : 13;
            }
        plot.Add.ColorBar(heatmap);
        plot.Title($"{name}: confusion matrix");
        plot.XLabel("predicted class");
        plot.YLabel("true class");
        var ticks = Enumerable.Range(0, k).ToArray();
        var labels = ticks.Select(t => classNames is { } n && t < n.Count ? n[t] : t.ToString(Inv)).ToArray();
        plot.Axes.Bottom.SetTicks(ticks.Select(t => (double)t).ToArray(), labels);
        plot.Axes.Left.SetTicks(ticks.Select(t => (double)(k - 1 - t)).ToArray(), labels);
        if (classNames is not null)
        {
            // Names side by side under the columns would run into each other: slanted, they fit.
            plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
            plot.Axes.Bottom.MinimumSize = 20 + 6 * labels.Max(l => l.Length);
        }
        ReportFiles.Png(plot, path, classNames is null ? 640 : 720, classNames is null ? 560 : 640);
    }

    /// <summary>Examples side by side, 12 to a row, each scaled 2x.</summary>
    public static void WriteGrid(string path, Dataset data, IReadOnlyList<int> indices)
    {
        int h = data.Shape.Height, w = data.Shape.Width, ch = data.Shape.Channels, cols = 12, scale = 2, pad = 2;
        int rows = Math.Max(1, (indices.Count + cols - 1) / cols);
        using var grid = new Image<Rgb24>(cols * (w * scale + pad) + pad, rows * (h * scale + pad) + pad, new Rgb24(255, 255, 255));
        for (int k = 0; k < indices.Count; k++)
        {
            int ox = pad + k % cols * (w * scale + pad), oy = pad + k / cols * (h * scale + pad);
            var pixels = data.Example(indices[k]); // (H, W, C)
            for (int y = 0; y < h * scale; y++)
                for (int x = 0; x < w * scale; x++)
                {
                    int p = (y / scale * w + x / scale) * ch;
                    grid[ox + x, oy + y] = ch == 1 ? new Rgb24(pixels[p], pixels[p], pixels[p]) : new Rgb24(pixels[p], pixels[p + 1], pixels[p + 2]);
                }
        }
        ReportFiles.Png(grid, path);
    }

    /// <summary>Class c as the report shows it: its name and number when it has a name, else its number.</summary>
    private static string Label(Dataset data, int c) => data.ClassNames is null ? c.ToString(Inv) : $"{data.ClassName(c)} ({c})";

    private static byte[] Png(Dataset data, int index) => Images.Png(data.Example(index), data.Shape.Height, data.Shape.Width, data.Shape.Channels);

    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
