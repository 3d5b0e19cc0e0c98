using System.Globalization;
using System.Xml.Linq;
using static DeepLearning.Tests.Plots.SvgTestHelpers;

namespace DeepLearning.Tests.Plots;

public class SvgDocumentTests
{
    [Fact]
    public void A_null_colour_is_refused_naming_its_parameter_and_leaves_the_document_well_formed()
    {
        // Text(fill: null) threw ArgumentNullException for 'text' from the escaping, after half an element was written.
        var doc = new SvgDocument(10, 10);
        int before = doc.ElementCount;
        FluentActions.Invoking(() => doc.Text(1, 1, "x", fill: null!)).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("fill");
        FluentActions.Invoking(() => doc.Line(0, 0, 1, 1, stroke: null!)).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("stroke");
        FluentActions.Invoking(() => doc.Polyline([(0, 0), (1, 1)], stroke: null!)).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("stroke");
        FluentActions.Invoking(() => doc.Text(1, 1, null!)).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("text");
        doc.ElementCount.Should().Be(before);
        XDocument.Parse(doc.Text(1, 1, "ok").ToString()).Root!.Elements().Should().HaveCount(2, "the background and the text, no half-written element");
    }

    [Fact]
    public void Document_is_well_formed_svg_with_size_and_viewbox()
    {
        var doc = new SvgDocument(300, 200.5);
        doc.Line(0, 0, 10, 10).Polyline([(1, 2), (3, 4)]).Rect(1, 1, 5, 5, "#FF0000").Circle(5, 5, 2).Text(1, 1, "hi");

        var root = Parse(doc);
        ((string?)root.Attribute("width")).Should().Be("300");
        ((string?)root.Attribute("height")).Should().Be("200.5");
        ((string?)root.Attribute("viewBox")).Should().Be("0 0 300 200.5");
        Elements(root, "line").Should().HaveCount(1);
        Elements(root, "polyline").Single().Attribute("points")!.Value.Should().Be("1,2 3,4");
        Elements(root, "rect").Should().HaveCount(2, "a white background plus the red rectangle");
        Elements(root, "circle").Should().HaveCount(1);
        Elements(root, "text").Single().Value.Should().Be("hi");
        doc.ElementCount.Should().Be(6);
    }

    [Fact]
    public void Transparent_document_has_no_background_rectangle()
    {
        var root = Parse(new SvgDocument(10, 10, background: null));
        Elements(root, "rect").Should().BeEmpty();
    }

    [Fact]
    public void Text_and_attributes_are_escaped_and_forbidden_characters_replaced()
    {
        const string nasty = "a<b & \"c\" 'd' > e\u0001\uD800 €😀";
        var doc = new SvgDocument(10, 10).Text(0, 0, nasty, cssClass: "x\"<y");
        var root = Parse(doc);
        var text = Elements(root, "text").Single();
        text.Value.Should().Be("a<b & \"c\" 'd' > e\uFFFD\uFFFD €😀");
        ((string?)text.Attribute("class")).Should().Be("x\"<y");
    }

    [Theory]
    [InlineData(0.5, "0.5")]
    [InlineData(1234567.125, "1234567.13")]
    [InlineData(-0.001, "0")]
    [InlineData(-2.25, "-2.25")]
    [InlineData(1e-9, "0")]
    public void Numbers_are_written_with_at_most_two_decimals_and_a_point(double value, string expected)
    {
        var doc = new SvgDocument(10, 10, background: null).Circle(value, 0, 1);
        ((string?)Elements(Parse(doc), "circle").Single().Attribute("cx")).Should().Be(expected);
    }

    [Fact]
    public void Numbers_do_not_follow_a_comma_decimal_culture()
    {
        static string Build() => new SvgDocument(100.5, 50.25)
            .Line(0.5, 1.25, 2.75, 3.5, strokeWidth: 1.5)
            .Polyline([(0.5, 0.25), (1.5, 2.5)])
            .Text(1.5, 2.5, "x", fontSize: 10.5, rotate: -45.5)
            .ToString();

        var german = WithCulture("de-DE", Build);
        CultureInfo.GetCultureInfo("de-DE").NumberFormat.NumberDecimalSeparator.Should().Be(",");
        german.Should().Be(WithCulture("en-US", Build));
        german.Should().Contain("x1=\"0.5\"").And.Contain("points=\"0.5,0.25 1.5,2.5\"").And.Contain("rotate(-45.5 1.5 2.5)");
    }

    [Fact]
    public void Non_finite_coordinates_are_rejected_with_the_value()
    {
        var doc = new SvgDocument(10, 10);
        var act = () => doc.Circle(double.NaN, 0, 1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*finite*NaN*");
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(10, -1)]
    [InlineData(double.PositiveInfinity, 10)]
    public void Bad_document_sizes_are_rejected(double width, double height)
    {
        var act = () => new SvgDocument(width, height);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*received*");
    }

    [Fact]
    public void Groups_nest_and_unclosed_groups_are_closed_in_the_output()
    {
        var doc = new SvgDocument(10, 10, background: null)
            .BeginGroup("outer", "translate(1,2)").BeginGroup("inner", crispEdges: true).Circle(1, 1, 1).EndGroup()
            .BeginGroup("open").Rect(0, 0, 1, 1);
        var root = Parse(doc);
        var outer = root.Elements(Svg + "g").Single();
        ((string?)outer.Attribute("transform")).Should().Be("translate(1,2)");
        outer.Elements(Svg + "g").Select(g => (string?)g.Attribute("class")).Should().Equal("inner", "open");
        ((string?)outer.Elements(Svg + "g").First().Attribute("shape-rendering")).Should().Be("crispEdges");

        var act = () => new SvgDocument(1, 1).EndGroup();
        act.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public void Empty_polyline_is_rejected()
    {
        var act = () => new SvgDocument(10, 10).Polyline([]);
        act.Should().Throw<ArgumentException>().WithMessage("*at least one point*");
    }

    [Fact]
    public void Save_replaces_an_existing_file_atomically_and_leaves_no_temporary_files()
    {
        var folder = Directory.CreateTempSubdirectory("plots-save-");
        try
        {
            var path = Path.Combine(folder.FullName, "figure.svg");
            File.WriteAllText(path, "old contents");
            var doc = new SvgDocument(20, 10).Text(1, 5, "new");

            doc.Save(path);

            File.ReadAllText(path).Should().Be(doc.ToString());
            XDocument.Load(path).Root!.Name.Should().Be(Svg + "svg");
            Directory.GetFiles(folder.FullName).Should().Equal(path);
            File.ReadAllBytes(path)[0].Should().Be((byte)'<', "UTF-8 without a byte-order mark");

            doc.Text(1, 9, "again").Save(path);
            File.ReadAllText(path).Should().Contain("again");
            Directory.GetFiles(folder.FullName).Should().HaveCount(1);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Save_into_a_missing_folder_names_the_folder()
    {
        var missing = Path.Combine(Path.GetTempPath(), "plots-missing-" + Guid.NewGuid().ToString("N"));
        var act = () => new SvgDocument(1, 1).Save(Path.Combine(missing, "a.svg"));
        act.Should().Throw<DirectoryNotFoundException>().WithMessage($"*{missing}*");
    }
}
