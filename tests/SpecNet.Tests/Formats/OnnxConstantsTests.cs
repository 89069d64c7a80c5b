using SpecNet.Formats;

namespace SpecNet.Tests.Formats;

/// <summary>The constant folder against values worked out by hand from the ONNX operator specs (integer Div truncates, Slice clamps and steps backwards, NumPy broadcasting).</summary>
public class OnnxConstantsTests
{
    private static OnnxNode Node(string op, params (string Name, OnnxAttr Value)[] attributes) =>
        new("n", op, [], ["y"], attributes.ToDictionary(a => a.Name, a => a.Value));

    private static OnnxAttr Ints(string name, params long[] v) => new(name, null, null, null, v, [], null);
    private static OnnxAttr Int(string name, long v) => new(name, v, null, null, [], [], null);
    private static ConstantTensor I(long[] dims, params long[] v) => new(dims, null, v);
    private static ConstantTensor Fold(string op, ConstantTensor?[] inputs, params (string, OnnxAttr)[] attributes) =>
        OnnxConstants.Fold(Node(op, attributes), inputs, 13)!;

    [Fact]
    public void Integer_division_truncates_and_float_division_does_not()
    {
        Assert.Equal([3L, -3L, 0L], Fold("Div", [I([3], 7, -7, 1), I([], 2)]).Ints!);
        Assert.Equal([3.5f], Fold("Div", [new ConstantTensor([1], [7f], null), I([], 2)]).Floats!);
    }

    [Fact]
    public void Binary_ops_broadcast_like_numpy()
    {
        var sum = Fold("Add", [I([2, 1], 10, 20), I([3], 1, 2, 3)]);
        Assert.Equal([2L, 3L], sum.Dims);
        Assert.Equal([11L, 12, 13, 21, 22, 23], sum.Ints!);
        Assert.Equal([1L, 2], Fold("Sub", [I([2], 5, 5), I([2], 4, 3)]).Ints!);
        Assert.Equal([4L, 3], Fold("Max", [I([2], 4, 1), I([], 3)]).Ints!);
    }

    [Fact]
    public void Slice_steps_backwards_and_clamps()
    {
        // F.pad's pads: rows of [begin, end] reversed with starts -1, ends -huge, steps -1
        var rows = I([3, 2], 1, 2, 3, 4, 5, 6);
        var reversed = Fold("Slice", [rows, I([1], -1), I([1], long.MinValue / 2), I([1], 0), I([1], -1)]);
        Assert.Equal([3L, 2], reversed.Dims);
        Assert.Equal([5L, 6, 3, 4, 1, 2], reversed.Ints!);
        var middle = Fold("Slice", [I([5], 0, 1, 2, 3, 4), I([1], 1), I([1], 100), null, I([1], 2)]);
        Assert.Equal([1L, 3], middle.Ints!);
    }

    [Fact]
    public void Gather_transpose_reshape_concat()
    {
        var shape = I([4], ConstantTensor.Batch, 16, 28, 28);
        Assert.Equal([28L], Fold("Gather", [shape, I([], 2)], ("axis", Int("axis", 0))).Ints!);
        Assert.Empty(Fold("Gather", [shape, I([], -1)]).Dims);
        var t = Fold("Transpose", [I([2, 3], 1, 2, 3, 4, 5, 6)], ("perm", Ints("perm", 1, 0)));
        Assert.Equal([3L, 2], t.Dims);
        Assert.Equal([1L, 4, 2, 5, 3, 6], t.Ints!);
        Assert.Equal([2L, 3], Fold("Reshape", [I([6], 1, 2, 3, 4, 5, 6), I([2], -1, 3)]).Dims);
        var joined = Fold("Concat", [I([1], 7), I([2], 8, 9)], ("axis", Int("axis", 0)));
        Assert.Equal([7L, 8, 9], joined.Ints!);
        Assert.Equal([2L, 1, 3], Fold("Unsqueeze", [I([2, 3], 1, 2, 3, 4, 5, 6), I([1], 1)]).Dims);
    }

    [Fact]
    public void Nonsense_and_size_bombs_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Fold("Div", [I([1], 1), I([1], 0)]));
        Assert.Throws<ArgumentException>(() => Fold("Add", [I([2], 1, 2), I([3], 1, 2, 3)]));
        Assert.Throws<ArgumentException>(() => Fold("ConstantOfShape", [I([2], 1 << 20, 1 << 20)]));
        Assert.Throws<ArgumentException>(() => Fold("Gather", [I([2], 1, 2), I([], 5)]));
        Assert.Null(OnnxConstants.Fold(Node("Resize"), [], 13));
    }
}
