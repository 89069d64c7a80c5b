using System.Globalization;
using SpecNet.Diagnostics;
using SpecNet.Schema;

namespace SpecNet.Data;

/// <summary>
/// A CSV file with one example per row: a label column (by header name or index) and the pixel or
/// feature columns in HWC order (Kaggle's MNIST CSV: "label,pixel0,...,pixel783"). A header is
/// detected when the first row is not all numbers. Labels are class indices, or class names when the
/// spec lists them. Read streaming, row by row. An image input's values are 8-bit pixels (a value outside 0..255 is an
/// error); a flat input's are held as bytes while every value is a whole number in 0..255 (a fourth of the memory), else
/// every value as the float written (features: fractions, negatives).
/// </summary>
public static class Csv
{
    public static Dataset Load(string name, string path, Shape input, string? labelColumn, bool? header, IReadOnlyList<string>? classNames)
    {
        if (!File.Exists(path)) throw new SpecNetException($"{path}: no such file", "check the data paths in the spec (relative to the spec's folder)");
        int size = input.Size;
        var pixels = new List<byte[]>();
        List<float[]>? features = null;          // from the first value that is not 8-bit on, every row's values as written
        var labels = new List<byte>();
        int labelIndex = -1;
        foreach (var (lineNumber, fields) in Records(path))
        {
            if (labelIndex < 0)
            {
                bool hasHeader = header ?? fields.Any(f => !IsNumber(f) && (classNames is null || !classNames.Contains(f.Trim())));
                if (fields.Length == size)
                    throw new SpecNetException($"{path}({lineNumber}): {fields.Length} columns, the model's input values alone: no label column",
                        "a labelled file holds each row's label too; to classify rows without labels, use specnet predict");
                labelIndex = LabelIndex(path, fields, hasHeader, labelColumn);
                if (fields.Length - 1 != size)
                    throw new SpecNetException($"{path}({lineNumber}): {fields.Length - 1} value columns, but the model takes {Takes(input)}", ColumnsHint(hasHeader, fields, "check input.shape, or the CSV's columns"));
                if (hasHeader) continue;
            }
            if (fields.Length != size + 1)
                throw new SpecNetException($"{path}({lineNumber}): {fields.Length} columns, but the first row has {size + 1}", "every row needs the label and the same number of values");
            var values = new float[size];
            bool bytes = features is null;
            for (int f = 0, v = 0; f < fields.Length; f++)
            {
                if (f == labelIndex) { labels.Add(Label(path, lineNumber, fields[f].Trim(), classNames)); continue; }
                var value = input.IsFlat ? Value(path, lineNumber, f, fields[f]) : Pixel(path, lineNumber, f, fields[f]);
                values[v++] = value;
                bytes &= value is >= 0 and <= 255 && value == MathF.Round(value);
            }
            if (!bytes && features is null) features = [.. pixels.Select(row => row.Select(b => (float)b).ToArray())];
            if (features is not null) features.Add(values);
            else pixels.Add(values.Select(v => (byte)v).ToArray());
        }
        if (labels.Count == 0) throw new SpecNetException($"{path}: holds no examples");
        if (features is not null)
        {
            var all = new float[features.Count * size];
            for (int i = 0; i < features.Count; i++) features[i].CopyTo(all, i * size);
            return new Dataset(name, input, all, [.. labels], path) { ClassNames = classNames };
        }
        var pixelsAll = new byte[pixels.Count * size];
        for (int i = 0; i < pixels.Count; i++) pixels[i].CopyTo(pixelsAll, i * size);
        return new Dataset(name, input, pixelsAll, [.. labels], path) { ClassNames = classNames };
    }

    /// <summary>
    /// The rows of a CSV file to predict, each with its line: a row holds the input's values, as `train` reads them (a header, a
    /// first row that is not all numbers, is skipped). A column the header names `label` is left out, so a labelled file (a test
    /// set) predicts as it is, and so does Kaggle's test.csv, which has none.
    /// </summary>
    public static IEnumerable<(int Line, float[] Values)> Rows(string path, Shape input)
    {
        if (!File.Exists(path)) throw new SpecNetException($"{path}: no such file");
        int size = input.Size, skip = -1;
        bool first = true;
        foreach (var (lineNumber, fields) in Records(path))
        {
            if (first)
            {
                first = false;
                if (!fields.All(IsNumber))
                {
                    skip = Array.FindIndex(fields, f => f.Trim().Equals("label", StringComparison.OrdinalIgnoreCase));
                    if (ValueColumns(fields) != size)
                        throw new SpecNetException($"{path}({lineNumber}): {ValueColumns(fields)} value columns, but the model takes {Takes(input)}",
                            ColumnsHint(true, fields, "one column per input value, and a column named label if the file has one"));
                    continue;
                }
            }
            if (ValueColumns(fields) != size)
                throw new SpecNetException($"{path}({lineNumber}): {ValueColumns(fields)} values, but the model takes {Takes(input)}",
                    skip < 0 ? "a file without a header holds the values alone; a labelled one needs a header naming its label column" : "every row needs the same columns as the header");
            var values = new float[size];
            for (int f = 0, v = 0; f < fields.Length; f++)
                if (f != skip) values[v++] = input.IsFlat ? Value(path, lineNumber, f, fields[f]) : Pixel(path, lineNumber, f, fields[f]);
            yield return (lineNumber, values);
        }

        int ValueColumns(string[] fields) => fields.Length - (skip < 0 ? 0 : 1);     // all but the label column
    }

    /// <summary>The file's lines that hold something, split at the commas, each with its line number.</summary>
    private static IEnumerable<(int Line, string[] Fields)> Records(string path)
    {
        using var reader = new StreamReader(path);
        int number = 0;
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            number++;
            if (line.Length == 0) continue;
            // a spreadsheet's export in a locale with decimal commas separates with ';' (or tabs): one field a row here
            if (!line.Contains(',') && (line.Contains(';') || line.Contains('\t')))
                throw new SpecNetException($"{path}({number}): the values are separated by {(line.Contains(';') ? "';'" : "tabs")}, not commas",
                    "save the file as comma-separated values, with '.' as the decimal point");
            yield return (number, Array.ConvertAll(line.Split(','), Unquoted));
        }
    }

    /// <summary>A field without the quotes a spreadsheet or pandas may put around it ("label", "3").</summary>
    private static string Unquoted(string field)
    {
        var f = field.Trim();
        return f.Length >= 2 && f[0] == '"' && f[^1] == '"' ? f[1..^1] : field;
    }

    private static bool IsNumber(string field) => double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    /// <summary>A header whose first column has no name is pandas' index column (to_csv without index=False): a column too many.</summary>
    private static string ColumnsHint(bool header, string[] fields, string otherwise) =>
        header && fields[0].Trim().Length == 0 ? "the first column has no name: a row index (pandas writes one unless to_csv(..., index=False)); leave it out" : otherwise;

    private static string Takes(Shape input) => input.IsFlat ? $"{input.Size}" : $"{input.Size} ({input})";

    /// <summary>An image input's value: an 8-bit pixel, a fraction rounded as an image file would hold it; else an error, as corrupt data.</summary>
    private static float Pixel(string path, int line, int column, string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value is >= 0 and <= 255
            ? (float)Math.Round(value)
            : throw new SpecNetException($"{path}({line}): column {column + 1} holds '{text.Trim()}', not a value in 0..255",
                "an image input's CSV holds 8-bit pixels; a model of other features takes a flat input, input: [n]");

    /// <summary>A flat input's value: any finite float (pixels 0..255, or features).</summary>
    private static float Value(string path, int line, int column, string text) =>
        float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && float.IsFinite(value) ? value
            : throw new SpecNetException($"{path}({line}): column {column + 1} holds '{text.Trim()}', not a number", "every value column holds a number (pixels 0..255, or features)");

    private static int LabelIndex(string path, string[] first, bool header, string? column)
    {
        if (column is not null && int.TryParse(column, out var index))
            return index >= 0 && index < first.Length ? index : throw new SpecNetException($"{path}: label column {index} does not exist (the rows have {first.Length} columns)");
        if (!header)
            return column is null ? 0 : throw new SpecNetException($"{path}: has no header, so the label column '{column}' cannot be found by name", "give label as a 0-based column index");
        var name = column ?? "label";
        int found = Array.FindIndex(first, f => f.Trim().Equals(name, StringComparison.OrdinalIgnoreCase));
        return found >= 0 ? found : throw new SpecNetException($"{path}: no column named '{name}' in the header ({string.Join(", ", first.Take(5))}...)", "set data.<split>.label to the label column's name or index");
    }

    private static byte Label(string path, int line, string text, IReadOnlyList<string>? classNames)
    {
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n is >= 0 and < 256) return (byte)n;
        if (classNames is not null && classNames.ToList().IndexOf(text) is var k and >= 0) return (byte)k;
        throw new SpecNetException($"{path}({line}): unknown label '{text}'",
            classNames is null ? "labels are class indices 0..255, or names listed in data.labels" : $"known classes: {string.Join(", ", classNames)}");
    }
}
