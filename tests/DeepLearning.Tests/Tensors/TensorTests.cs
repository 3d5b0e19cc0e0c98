using MathNet.Numerics.LinearAlgebra;

namespace DeepLearning.Tests.Tensors;

public class TensorTests
{
    [Fact]
    public void New_tensor_has_shape_length_and_zeros()
    {
        var t = new Tensor<float>(2, 3, 4);
        t.Shape.Should().Equal(2, 3, 4);
        t.Rank.Should().Be(3);
        t.Length.Should().Be(24);
        t.RowCount.Should().Be(2);
        t.RowLength.Should().Be(12);
        t.ReadOnlySpan.ToArray().Should().OnlyContain(v => v == 0f);
    }

    [Theory]
    [InlineData(new int[0])]
    [InlineData(new[] { 1, 2, 3, 4, 5 })]
    [InlineData(new[] { 2, -1 })]
    public void Bad_shapes_are_rejected_with_the_shape_in_the_message(int[] shape)
    {
        var act = () => new Tensor<double>(shape);
        act.Should().Throw<ArgumentException>().WithMessage($"*{Tensor<double>.ShapeString(shape)}*");
    }

    [Theory]
    [InlineData(new[] { int.MaxValue, 0 }, 0)]
    [InlineData(new[] { 0, int.MaxValue }, int.MaxValue)]
    [InlineData(new[] { int.MaxValue, 0, int.MaxValue }, 0)]
    [InlineData(new[] { 65536, 65536, 0 }, 0)]
    public void A_zero_dimension_makes_an_empty_tensor_whatever_the_others_are(int[] shape, int rowLength)
    {
        // The running product used to pass Array.MaxLength before it reached the 0.
        var t = new Tensor<float>(shape);
        t.Length.Should().Be(0);
        t.Shape.Should().Equal(shape);
        t.RowLength.Should().Be(rowLength);
        t.Reshape(0).Length.Should().Be(0);
    }

    [Theory]
    [InlineData(new[] { 65536, 65536 }, "shape (65536, 65536) holds more than 2147483527 elements, the most a tensor can hold")]
    [InlineData(new[] { 1, int.MaxValue }, "shape (1, 2147483647) holds more than 2147483527 elements")]
    [InlineData(new[] { 2147483591 }, "shape (2147483591) holds more than 2147483527 elements, the most a tensor can hold (Tensor.MaxLength: Array.MaxLength less room to align the storage)")]
    [InlineData(new[] { 2147483528 }, "shape (2147483528) holds more than 2147483527 elements")]
    [InlineData(new[] { 0, 65536, 65536 }, "shape (0, 65536, 65536) is empty but its dimensions from axis 1 on hold more than 2147483647 elements")]
    public void Shapes_too_large_to_count_are_rejected_with_the_shape(int[] shape, string message)
    {
        var act = () => new Tensor<double>(shape);
        act.Should().Throw<ArgumentException>().WithMessage(message + "*");
    }

    [Fact]
    public void The_largest_shape_allowed_can_be_allocated_with_its_alignment_padding()
    {
        // Array.MaxLength elements passed the shape check, and the allocation then added the padding that aligns the
        // storage: OutOfMemoryException "Array dimensions exceeded supported range". The limit leaves room for it.
        Tensor.MaxLength.Should().Be(Array.MaxLength - 64);
        Tensor.ShapeProblem([Tensor.MaxLength]).Should().BeNull();
        Tensor.ShapeProblem([Tensor.MaxLength + 1]).Should().NotBeNull();
        ((long)Tensor.MaxLength + (Tensor<float>.Alignment / sizeof(float))).Should().BeLessThanOrEqualTo(Array.MaxLength);
        ((long)Tensor.MaxLength + (Tensor<Half>.Alignment / 2)).Should().BeLessThanOrEqualTo(Array.MaxLength);
    }

    [Fact]
    public void Storage_is_64_byte_aligned()
    {
        for (int n = 1; n < 50; n++)
        {
            var f = new Tensor<float>(n);
            var d = new Tensor<double>(n, 3);
            Address(f.Span).Should().Be(0);
            Address(d.Span).Should().Be(0);
        }

        static unsafe long Address<T>(Span<T> s)
            where T : unmanaged
        {
            fixed (T* p = s)
            {
                return (long)p % 64;
            }
        }
    }

    [Fact]
    public void Indexers_are_row_major_at_every_rank()
    {
        var t2 = new Tensor<double>(2, 3);
        t2[1, 2] = 5;
        t2.Span[5].Should().Be(5);

        var t3 = new Tensor<double>(2, 3, 4);
        t3[1, 2, 3] = 7;
        t3.Span[(((1 * 3) + 2) * 4) + 3].Should().Be(7);

        var t4 = new Tensor<float>(2, 3, 4, 5);
        t4[1, 2, 3, 4] = 9;
        t4.Span[t4.Length - 1].Should().Be(9);

        var t1 = new Tensor<float>(4);
        t1[3] = 2;
        t1.Span[3].Should().Be(2);
    }

    [Fact]
    public void Out_of_range_index_and_wrong_rank_throw_clear_errors()
    {
        var t = new Tensor<float>(2, 3);
        var act = () => t[2, 0];
        act.Should().Throw<IndexOutOfRangeException>().WithMessage("*index 2 on axis 0*(2, 3)*");
        var wrongRank = () => t[0];
        wrongRank.Should().Throw<ArgumentException>().WithMessage("*rank-1*(2, 3)*");
    }

    [Fact]
    public void Row_views_share_storage_and_see_writes_both_ways()
    {
        var x = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => (float)i).ToArray(), 4, 3);
        var batch = x.Rows(1, 2);
        batch.Shape.Should().Equal(2, 3);
        batch[0, 0].Should().Be(3);
        batch[1, 2].Should().Be(8);
        batch[0, 1] = 100;
        x[1, 1].Should().Be(100);
        x[2, 0] = -1;
        batch[1, 0].Should().Be(-1);
        x.Row(3).ToArray().Should().Equal(9, 10, 11);
    }

    [Fact]
    public void Row_view_out_of_range_throws_with_the_shape()
    {
        var x = new Tensor<float>(4, 3);
        var act = () => x.Rows(3, 2);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*[3, 5)*(4, 3)*");

        // start + count beyond int: the message read "rows [3, -2147483646)".
        act = () => x.Rows(3, int.MaxValue);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("rows [3, 2147483650) are outside a tensor of shape (4, 3)*");
    }

    [Fact]
    public void Reshape_is_a_view_and_infers_one_dimension()
    {
        var x = Tensor.FromArray(Enumerable.Range(0, 24).Select(i => (double)i).ToArray(), 2, 3, 4);
        var y = x.Reshape(6, -1);
        y.Shape.Should().Equal(6, 4);
        y[5, 3] = -5;
        x[1, 2, 3].Should().Be(-5);
        var act = () => x.Reshape(5, 5);
        act.Should().Throw<ArgumentException>().WithMessage("*(2, 3, 4)*(5, 5)*");
    }

    [Fact]
    public void Clone_copies_and_CopyTo_checks_shape()
    {
        var x = Tensor.Full(2.5f, 2, 2);
        var c = x.Clone();
        c[0, 0] = 1;
        x[0, 0].Should().Be(2.5f);
        var wrong = new Tensor<float>(4);
        var act = () => x.CopyTo(wrong);
        act.Should().Throw<ArgumentException>().WithMessage("*(2, 2)*(4)*");
    }

    [Fact]
    public void IsClose_uses_relative_and_absolute_tolerance()
    {
        var a = Tensor.FromArray(new[] { 1.0, 100.0, double.NaN });
        var b = Tensor.FromArray(new[] { 1.0 + 1e-9, 100.0 + 1e-4, double.NaN });
        a.IsClose(b, rtol: 1e-5, atol: 1e-8).Should().BeTrue();
        a.IsClose(b, rtol: 1e-8, atol: 1e-8).Should().BeFalse();
        a.IsClose(new Tensor<double>(2)).Should().BeFalse();
        Tensor.FromArray(new[] { 1.0 }).MaxAbsDifference(Tensor.FromArray(new[] { 1.5 })).Should().Be(0.5);
    }

    [Theory]
    [InlineData(5.0, double.PositiveInfinity, false)]
    [InlineData(double.PositiveInfinity, 5.0, false)]
    [InlineData(double.NegativeInfinity, double.PositiveInfinity, false)]
    [InlineData(double.PositiveInfinity, double.NegativeInfinity, false)]
    [InlineData(3e38, double.PositiveInfinity, false)]
    [InlineData(double.PositiveInfinity, double.PositiveInfinity, true)]
    [InlineData(double.NegativeInfinity, double.NegativeInfinity, true)]
    [InlineData(double.NaN, double.NaN, true)]
    [InlineData(double.NaN, 1.0, false)]
    [InlineData(1.0, double.NaN, false)]
    [InlineData(double.NaN, double.PositiveInfinity, false)]
    public void IsClose_follows_numpy_for_infinities_in_either_order(double a, double b, bool close)
    {
        // [5].IsClose([+∞]) was true (|5 − ∞| ≤ rtol·∞), and −∞ close to +∞, but not in the other order.
        var x = Tensor.FromArray(new[] { a });
        var y = Tensor.FromArray(new[] { b });
        x.IsClose(y).Should().Be(close);
        x.IsClose(y, rtol: 1, atol: 1e300).Should().Be(close, "no tolerance makes an infinity close to anything else");
        x.ConvertTo<float>().IsClose(y.ConvertTo<float>()).Should().Be(close);
    }

    [Fact]
    public void MaxAbsDifference_counts_equal_infinities_as_no_difference()
    {
        // ∞ − ∞ is NaN: two identical tensors holding ∞ had a NaN largest difference.
        var inf = Tensor.FromArray(new[] { 1.0, double.PositiveInfinity, double.NegativeInfinity });
        inf.MaxAbsDifference(inf.Clone()).Should().Be(0);
        inf.MaxAbsDifference(Tensor.FromArray(new[] { 1.5, double.PositiveInfinity, double.NegativeInfinity })).Should().Be(0.5);
        inf.MaxAbsDifference(Tensor.FromArray(new[] { 1.0, 5.0, double.NegativeInfinity })).Should().Be(double.PositiveInfinity);
        inf.MaxAbsDifference(Tensor.FromArray(new[] { 1.0, double.NegativeInfinity, double.NegativeInfinity })).Should().Be(double.PositiveInfinity);
        inf.MaxAbsDifference(Tensor.FromArray(new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity })).Should().Be(double.NaN);
    }

    [Fact]
    public void ToString_is_readable_and_elides_long_dimensions()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        x.ToString().Should().Contain("(2, 3)").And.Contain("[[1, 2, 3]").And.Contain("[4, 5, 6]]");
        var big = new Tensor<double>(100);
        big.ToString().Should().Contain("...");
    }

    [Fact]
    public void FromArray2D_and_jagged_round_trip()
    {
        var arr = new double[,] { { 1, 2, 3 }, { 4, 5, 6 } };
        var t = Tensor.FromArray(arr);
        t.Shape.Should().Equal(2, 3);
        t[1, 0].Should().Be(4);
        t.ToArray2D().Should().BeEquivalentTo(arr);
        var jag = Tensor.FromRows(new[] { new float[] { 1, 2 }, new float[] { 3, 4 } });
        jag[1, 1].Should().Be(4);
        var ragged = () => Tensor.FromRows(new[] { new float[] { 1, 2 }, new float[] { 3 } });
        ragged.Should().Throw<ArgumentException>().WithMessage("*row 1*");
    }

    [Fact]
    public void ConvertTo_changes_the_element_type_and_keeps_shape()
    {
        var f = Tensor.FromArray(new float[] { 1.5f, -2f, 0.1f, 3f }, 2, 2);
        var d = f.ConvertTo<double>();
        d.Shape.Should().Equal(2, 2);
        d.ReadOnlySpan.ToArray().Should().Equal(1.5, -2, (double)0.1f, 3);
        d.ConvertTo<float>().Should().Be(f);
    }

    [Fact]
    public void MathNet_round_trip_respects_column_major_storage()
    {
        var m = Matrix<double>.Build.Dense(3, 2, (i, j) => (10 * i) + j);
        var t = Tensor.FromMatrix(m);
        t.Shape.Should().Equal(3, 2);
        t[2, 1].Should().Be(21);
        t[1, 0].Should().Be(10);
        var back = t.ToMatrix();
        back.Equals(m).Should().BeTrue();

        var mf = Matrix<float>.Build.Random(5, 7, 3);
        Tensor.FromMatrix(mf).ToMatrix().Equals(mf).Should().BeTrue();
        var sparse = Matrix<double>.Build.Sparse(2, 2);
        sparse[1, 0] = 3;
        Tensor.FromMatrix(sparse)[1, 0].Should().Be(3);
    }
}
