using System.Text;

namespace DeepLearning;

/// <summary>Horizontal alignment of a text element relative to its anchor point (SVG <c>text-anchor</c>).</summary>
public enum TextAnchor
{
    /// <summary>The text starts at the anchor point.</summary>
    Start,

    /// <summary>The text is centred on the anchor point.</summary>
    Middle,

    /// <summary>The text ends at the anchor point.</summary>
    End,
}

/// <summary>
/// A minimal, dependency-free SVG 1.1 document builder: lines, polylines, rectangles, circles, text and groups.
/// Coordinates are in user units with the origin at the top-left corner and y growing downwards; the document's
/// <c>viewBox</c> is <c>0 0 Width Height</c>, so it scales cleanly to any display size. Numbers are written with the
/// invariant culture, text is XML-escaped. Build with the fluent methods, then <see cref="ToString"/> or <see cref="Save"/>.
/// </summary>
public sealed class SvgDocument
{
    private const string FontFamily = "DejaVu Sans, Verdana, Arial, sans-serif";
    private readonly StringBuilder _body = new();
    private int _openGroups;

    /// <summary>Creates an empty document of <paramref name="width"/> × <paramref name="height"/> user units.</summary>
    /// <param name="width">Width in user units (and in pixels when displayed at natural size); must be positive and finite.</param>
    /// <param name="height">Height in user units; must be positive and finite.</param>
    /// <param name="background">Fill of a full-size background rectangle, or null for a transparent background.</param>
    public SvgDocument(double width, double height, string? background = "#ffffff")
    {
        if (!(width > 0) || !double.IsFinite(width))
        {
            throw new ArgumentOutOfRangeException(nameof(width), width, $"width must be positive and finite; received {width}");
        }

        if (!(height > 0) || !double.IsFinite(height))
        {
            throw new ArgumentOutOfRangeException(nameof(height), height, $"height must be positive and finite; received {height}");
        }

        Width = width;
        Height = height;
        if (background is not null)
        {
            Rect(0, 0, width, height, fill: background);
        }
    }

    /// <summary>Width of the document (and of its viewBox) in user units.</summary>
    public double Width { get; }

    /// <summary>Height of the document (and of its viewBox) in user units.</summary>
    public double Height { get; }

    /// <summary>Number of drawing elements added so far (groups not counted).</summary>
    public int ElementCount { get; private set; }

    /// <summary>Adds a straight line from (<paramref name="x1"/>, <paramref name="y1"/>) to (<paramref name="x2"/>, <paramref name="y2"/>).</summary>
    /// <param name="x1">Start x.</param>
    /// <param name="y1">Start y.</param>
    /// <param name="x2">End x.</param>
    /// <param name="y2">End y.</param>
    /// <param name="stroke">Stroke colour (any SVG colour, e.g. <c>#0072b2</c>).</param>
    /// <param name="strokeWidth">Stroke width in user units.</param>
    /// <param name="dashArray">Optional SVG dash pattern, e.g. <c>"4 3"</c>.</param>
    /// <param name="cssClass">Optional <c>class</c> attribute.</param>
    /// <returns>This document, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="stroke"/> is null (nothing is added).</exception>
    public SvgDocument Line(double x1, double y1, double x2, double y2, string stroke = "#000000", double strokeWidth = 1, string? dashArray = null, string? cssClass = null)
    {
        ArgumentNullException.ThrowIfNull(stroke);
        Open("line", cssClass)
            .Attr("x1", x1).Attr("y1", y1).Attr("x2", x2).Attr("y2", y2)
            .Attr("stroke", stroke).Attr("stroke-width", strokeWidth);
        if (dashArray is not null)
        {
            Attr("stroke-dasharray", dashArray);
        }

        return Close();
    }

    /// <summary>Adds an open polyline through <paramref name="points"/> (no fill).</summary>
    /// <param name="points">Vertices in order; at least one.</param>
    /// <param name="stroke">Stroke colour.</param>
    /// <param name="strokeWidth">Stroke width in user units.</param>
    /// <param name="dashArray">Optional SVG dash pattern.</param>
    /// <param name="cssClass">Optional <c>class</c> attribute.</param>
    /// <returns>This document, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="points"/> or <paramref name="stroke"/> is null (nothing is added).</exception>
    /// <exception cref="ArgumentException"><paramref name="points"/> is empty.</exception>
    public SvgDocument Polyline(IEnumerable<(double X, double Y)> points, string stroke = "#000000", double strokeWidth = 1.5, string? dashArray = null, string? cssClass = null)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(stroke);
        var list = new StringBuilder();
        var count = 0;
        foreach (var (x, y) in points)
        {
            if (count++ > 0)
            {
                list.Append(' ');
            }

            list.Append(SvgFormat.Number(x)).Append(',').Append(SvgFormat.Number(y));
        }

        if (count == 0)
        {
            throw new ArgumentException("a polyline needs at least one point; received none", nameof(points));
        }

        Open("polyline", cssClass).Attr("points", list.ToString())
            .Attr("fill", "none").Attr("stroke", stroke).Attr("stroke-width", strokeWidth)
            .Attr("stroke-linejoin", "round").Attr("stroke-linecap", "round");
        if (dashArray is not null)
        {
            Attr("stroke-dasharray", dashArray);
        }

        return Close();
    }

    /// <summary>Adds an axis-aligned rectangle with its top-left corner at (<paramref name="x"/>, <paramref name="y"/>).</summary>
    /// <param name="x">Left edge.</param>
    /// <param name="y">Top edge.</param>
    /// <param name="width">Width; must be non-negative.</param>
    /// <param name="height">Height; must be non-negative.</param>
    /// <param name="fill">Fill colour, or null for none.</param>
    /// <param name="stroke">Outline colour, or null for none.</param>
    /// <param name="strokeWidth">Outline width in user units.</param>
    /// <param name="cssClass">Optional <c>class</c> attribute.</param>
    /// <returns>This document, for chaining.</returns>
    public SvgDocument Rect(double x, double y, double width, double height, string? fill = null, string? stroke = null, double strokeWidth = 1, string? cssClass = null)
    {
        if (width < 0 || height < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"rectangle width and height must be non-negative; received {width} × {height}");
        }

        Open("rect", cssClass).Attr("x", x).Attr("y", y).Attr("width", width).Attr("height", height)
            .Attr("fill", fill ?? "none");
        if (stroke is not null)
        {
            Attr("stroke", stroke).Attr("stroke-width", strokeWidth);
        }

        return Close();
    }

    /// <summary>Adds a circle of radius <paramref name="r"/> centred at (<paramref name="cx"/>, <paramref name="cy"/>).</summary>
    /// <param name="cx">Centre x.</param>
    /// <param name="cy">Centre y.</param>
    /// <param name="r">Radius; must be non-negative.</param>
    /// <param name="fill">Fill colour, or null for none.</param>
    /// <param name="stroke">Outline colour, or null for none.</param>
    /// <param name="strokeWidth">Outline width in user units.</param>
    /// <param name="cssClass">Optional <c>class</c> attribute.</param>
    /// <returns>This document, for chaining.</returns>
    public SvgDocument Circle(double cx, double cy, double r, string? fill = "#000000", string? stroke = null, double strokeWidth = 1, string? cssClass = null)
    {
        if (r < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(r), r, $"circle radius must be non-negative; received {r}");
        }

        Open("circle", cssClass).Attr("cx", cx).Attr("cy", cy).Attr("r", r).Attr("fill", fill ?? "none");
        if (stroke is not null)
        {
            Attr("stroke", stroke).Attr("stroke-width", strokeWidth);
        }

        return Close();
    }

    /// <summary>
    /// Adds a single line of text whose baseline starts, is centred or ends (see <paramref name="anchor"/>) at
    /// (<paramref name="x"/>, <paramref name="y"/>). The text is XML-escaped; characters XML forbids become U+FFFD.
    /// </summary>
    /// <param name="x">Anchor x.</param>
    /// <param name="y">Anchor y (the baseline, unless <paramref name="middleBaseline"/>).</param>
    /// <param name="text">The text.</param>
    /// <param name="fontSize">Font size in user units.</param>
    /// <param name="anchor">Horizontal alignment.</param>
    /// <param name="fill">Text colour.</param>
    /// <param name="rotate">Rotation in degrees about the anchor point (negative turns counter-clockwise).</param>
    /// <param name="bold">Bold weight.</param>
    /// <param name="middleBaseline">When true, <paramref name="y"/> is the vertical centre of the text rather than its baseline.</param>
    /// <param name="cssClass">Optional <c>class</c> attribute.</param>
    /// <returns>This document, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> or <paramref name="fill"/> is null (nothing is added).</exception>
    public SvgDocument Text(double x, double y, string text, double fontSize = 12, TextAnchor anchor = TextAnchor.Start, string fill = "#000000", double rotate = 0, bool bold = false, bool middleBaseline = false, string? cssClass = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(fill);

        // dominant-baseline is not honoured everywhere; shifting by ~0.35 em centres digits and capitals reliably.
        var baselineY = middleBaseline ? y + (0.35 * fontSize) : y;
        Open("text", cssClass).Attr("x", x).Attr("y", baselineY).Attr("font-size", fontSize);
        if (anchor != TextAnchor.Start)
        {
            Attr("text-anchor", anchor == TextAnchor.Middle ? "middle" : "end");
        }

        if (fill != "#000000")
        {
            Attr("fill", fill);
        }

        if (bold)
        {
            Attr("font-weight", "bold");
        }

        if (rotate != 0)
        {
            Attr("transform", $"rotate({SvgFormat.Number(rotate)} {SvgFormat.Number(x)} {SvgFormat.Number(y)})");
        }

        _body.Append('>').Append(SvgFormat.Escape(text)).Append("</text>\n");
        ElementCount++;
        return this;
    }

    /// <summary>Opens a group (<c>&lt;g&gt;</c>); elements added until the matching <see cref="EndGroup"/> belong to it.</summary>
    /// <param name="cssClass">Optional <c>class</c> attribute.</param>
    /// <param name="transform">Optional SVG transform, e.g. <c>"translate(10,20)"</c>.</param>
    /// <param name="crispEdges">Sets <c>shape-rendering="crispEdges"</c>, so abutting rectangles show no anti-aliased seams.</param>
    /// <returns>This document, for chaining.</returns>
    public SvgDocument BeginGroup(string? cssClass = null, string? transform = null, bool crispEdges = false)
    {
        Indent();
        _body.Append("<g");
        if (cssClass is not null)
        {
            Attr("class", cssClass);
        }

        if (transform is not null)
        {
            Attr("transform", transform);
        }

        if (crispEdges)
        {
            Attr("shape-rendering", "crispEdges");
        }

        _body.Append(">\n");
        _openGroups++;
        return this;
    }

    /// <summary>Closes the innermost group opened by <see cref="BeginGroup"/>.</summary>
    /// <returns>This document, for chaining.</returns>
    /// <exception cref="InvalidOperationException">No group is open.</exception>
    public SvgDocument EndGroup()
    {
        if (_openGroups == 0)
        {
            throw new InvalidOperationException("EndGroup called with no open group");
        }

        _openGroups--;
        Indent();
        _body.Append("</g>\n");
        return this;
    }

    /// <summary>The complete SVG document (UTF-8 XML), closing any groups still open.</summary>
    /// <returns>The SVG text.</returns>
    public override string ToString()
    {
        var sb = new StringBuilder(_body.Length + 512);
        sb.Append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
          .Append("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"").Append(SvgFormat.Number(Width))
          .Append("\" height=\"").Append(SvgFormat.Number(Height))
          .Append("\" viewBox=\"0 0 ").Append(SvgFormat.Number(Width)).Append(' ').Append(SvgFormat.Number(Height))
          .Append("\" font-family=\"").Append(FontFamily).Append("\">\n")
          .Append(_body);
        for (var i = 0; i < _openGroups; i++)
        {
            sb.Append("</g>\n");
        }

        return sb.Append("</svg>\n").ToString();
    }

    /// <summary>
    /// Writes the document to <paramref name="path"/> as UTF-8 atomically: a temporary file in the same folder is written
    /// and flushed, then renamed over the target, so an existing file is either kept or fully replaced.
    /// </summary>
    /// <param name="path">Destination file; its folder must exist.</param>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToString(), createDirectory: false);

    private SvgDocument Open(string name, string? cssClass)
    {
        Indent();
        _body.Append('<').Append(name);
        if (cssClass is not null)
        {
            Attr("class", cssClass);
        }

        return this;
    }

    private SvgDocument Close()
    {
        _body.Append("/>\n");
        ElementCount++;
        return this;
    }

    private void Indent() => _body.Append(' ', 2 * (_openGroups + 1));

    private SvgDocument Attr(string name, double value)
    {
        _body.Append(' ').Append(name).Append("=\"").Append(SvgFormat.Number(value)).Append('"');
        return this;
    }

    private SvgDocument Attr(string name, string value)
    {
        _body.Append(' ').Append(name).Append("=\"").Append(SvgFormat.Escape(value)).Append('"');
        return this;
    }
}
