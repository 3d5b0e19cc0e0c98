using static DeepLearning.Tests.Plots.SvgTestHelpers;

namespace DeepLearning.Tests.Plots;

public class ConfusionMatrixTests
{
    private static readonly int[,] _counts = { { 50, 3, 0 }, { 7, 40, 2 }, { 0, 1, 1000 } };

    [Fact]
    public void Draws_one_shaded_cell_and_one_count_per_entry_row_true_column_predicted()
    {
        var root = Parse(Plot.ConfusionMatrix(_counts, ["cat", "dog", "bird"]));

        var cells = Elements(root, "rect", "cell");
        cells.Should().HaveCount(9);
        var texts = Elements(root, "text", "count");
        texts.Select(t => t.Value).Should().Equal("50", "3", "0", "7", "40", "2", "0", "1", "1000");

        // Cell (row 1, column 0) is below cell (0, 0) and left of cell (1, 1).
        Number(cells[3], "y").Should().BeGreaterThan(Number(cells[0], "y"));
        Number(cells[3], "x").Should().Be(Number(cells[0], "x"));
        Number(cells[4], "x").Should().BeGreaterThan(Number(cells[3], "x"));

        Elements(root, "text", "row-label").Select(t => t.Value).Should().Equal("cat", "dog", "bird");
        Elements(root, "text", "column-label").Select(t => t.Value).Should().Equal("cat", "dog", "bird");
        Elements(root, "text", "axis-title").Select(t => t.Value).Should().Equal("predicted class", "true class");
        // Accuracy = (50 + 40 + 1000) / 1103.
        Elements(root, "text", "subtitle").Single().Value.Should().Be("accuracy 0.9882   (n = 1103)");
    }

    [Fact]
    public void Shading_follows_the_count_and_text_contrasts_with_the_fill()
    {
        var root = Parse(Plot.ConfusionMatrix(_counts));
        var cells = Elements(root, "rect", "cell");
        var texts = Elements(root, "text", "count");
        ((string?)cells[8].Attribute("fill")).Should().Be(Palette.Sequential(1), "the largest count gets the darkest colour");
        ((string?)cells[2].Attribute("fill")).Should().Be(Palette.Sequential(0));
        ((string?)texts[8].Attribute("fill")).Should().Be("#FFFFFF");
        ((string?)texts[1].Attribute("fill") ?? "#000000").Should().Be("#000000", "3/1000 is nearly white");
        Elements(root, "text", "row-label").Select(t => t.Value).Should().Equal("0", "1", "2");
    }

    [Fact]
    public void Row_normalisation_shades_by_the_fraction_of_each_true_class()
    {
        var root = Parse(Plot.ConfusionMatrix(_counts, normalizeRows: true));
        var cells = Elements(root, "rect", "cell");
        ((string?)cells[0].Attribute("fill")).Should().Be(Palette.Sequential(50.0 / 53));
        ((string?)cells[4].Attribute("fill")).Should().Be(Palette.Sequential(40.0 / 49));
    }

    [Fact]
    public void Long_class_names_are_rotated_and_kept_inside_the_page()
    {
        string[] names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
        var counts = new int[10, 10];
        for (var i = 0; i < 10; i++)
        {
            counts[i, i] = 900 + i;
        }

        var doc = Plot.ConfusionMatrix(counts, names, "Fashion-MNIST");
        var root = Parse(doc);
        Elements(root, "rect", "cell").Should().HaveCount(100);
        Elements(root, "text", "count").Should().HaveCount(100);
        var columnLabels = Elements(root, "text", "column-label");
        columnLabels.Should().OnlyContain(t => ((string?)t.Attribute("transform") ?? string.Empty).StartsWith("rotate(-45", StringComparison.Ordinal));
        var rowLabels = Elements(root, "text", "row-label");
        rowLabels.Should().OnlyContain(t => Number(t, "x") - (t.Value.Length * 12 * 0.6) >= 0, "right-aligned row labels must start inside the page");
        var cells = Elements(root, "rect", "cell");
        cells.Max(c => Number(c, "y") + Number(c, "height")).Should().BeLessThan(doc.Height - 60, "room is left below the grid for rotated labels");
    }

    [Fact]
    public void All_zero_matrix_is_drawn_without_dividing_by_zero()
    {
        var root = Parse(Plot.ConfusionMatrix(new int[2, 2]));
        Elements(root, "rect", "cell").Should().HaveCount(4);
        Elements(root, "text", "subtitle").Single().Value.Should().Be("n = 0");
    }

    [Fact]
    public void Bad_inputs_get_clear_errors()
    {
        var notSquare = () => Plot.ConfusionMatrix(new int[2, 3]);
        notSquare.Should().Throw<ArgumentException>().WithMessage("*square*(2, 3)*");

        var empty = () => Plot.ConfusionMatrix(new int[0, 0]);
        empty.Should().Throw<ArgumentException>().WithMessage("*non-empty*");

        var negative = () => Plot.ConfusionMatrix(new[,] { { 1, -2 }, { 0, 1 } });
        negative.Should().Throw<ArgumentException>().WithMessage("*counts[0, 1] is -2*");

        var names = () => Plot.ConfusionMatrix(_counts, ["a", "b"]);
        names.Should().Throw<ArgumentException>().WithMessage("*3 entries*received 2*");
    }

    [Fact]
    public void Output_is_the_same_under_a_comma_decimal_culture()
    {
        static string Build() => Plot.ConfusionMatrix(_counts, ["a", "b", "c"]).ToString();
        var german = WithCulture("de-DE", Build);
        german.Should().Be(WithCulture("en-US", Build));
        german.Should().Contain("accuracy 0.9882");
    }
}
