namespace DeepLearning;

/// <summary>A rectangle in document coordinates (y down).</summary>
internal readonly record struct Box(double Left, double Top, double Width, double Height)
{
    public double Right => Left + Width;

    public double Bottom => Top + Height;
}

/// <summary>What a legend entry shows next to its name.</summary>
internal enum LegendMark
{
    Line,
    DashedLine,
    Dot,
}

/// <summary>One legend entry.</summary>
internal readonly record struct LegendEntry(string Name, string Color, LegendMark Mark);

/// <summary>Draws the furniture shared by all charts: frame, grid, ticks, tick labels, axis titles, title, legend.</summary>
internal static class Frame
{
    public const double TickFont = 11;
    public const double AxisTitleFont = 13;
    public const double TitleFont = 15;
    public const double LegendFont = 12;
    public const string Ink = "#222222";
    public const string GridColor = "#E5E5E5";
    private const double TickLength = 5;
    private const double Gap = 4;

    /// <summary>The plot area left inside <paramref name="outer"/> once room is made for ticks, axis titles and a title.</summary>
    public static Box PlotArea(Box outer, Axis x, Axis y, string? xTitle, string? yTitle, string? title)
    {
        var yLabelWidth = y.Ticks.Count == 0 ? 0 : y.Ticks.Max(t => SvgFormat.TextWidth(y.Label(t), TickFont));
        var left = 8 + (string.IsNullOrEmpty(yTitle) ? 0 : AxisTitleFont + 8) + yLabelWidth + TickLength + Gap;
        var bottom = 8 + (string.IsNullOrEmpty(xTitle) ? 0 : AxisTitleFont + 6) + TickFont + TickLength + Gap + 2;
        var top = string.IsNullOrEmpty(title) ? 12 : TitleFont + 18;

        // The last x tick label is centred on the right edge: leave room for half of it.
        var lastX = x.Ticks.Count == 0 ? 0 : SvgFormat.TextWidth(x.Label(x.Ticks[^1]), TickFont) / 2;
        var right = Math.Max(14, lastX + 4);
        return new Box(outer.Left + left, outer.Top + top, Math.Max(10, outer.Width - left - right), Math.Max(10, outer.Height - top - bottom));
    }

    public static double MapX(Box area, Axis x, double value) => area.Left + (x.Fraction(value) * area.Width);

    public static double MapY(Box area, Axis y, double value) => area.Bottom - (y.Fraction(value) * area.Height);

    /// <summary>Grid lines behind the data (call before drawing the data).</summary>
    public static void Grid(SvgDocument doc, Box area, Axis x, Axis y)
    {
        doc.BeginGroup("grid", crispEdges: true);
        foreach (var t in x.Ticks)
        {
            var px = MapX(area, x, t);
            doc.Line(px, area.Top, px, area.Bottom, GridColor);
        }

        foreach (var t in y.Ticks)
        {
            var py = MapY(area, y, t);
            doc.Line(area.Left, py, area.Right, py, GridColor);
        }

        doc.EndGroup();
    }

    /// <summary>Frame, ticks, tick labels and axis titles (call after drawing the data).</summary>
    public static void Axes(SvgDocument doc, Box outer, Box area, Axis x, Axis y, string? xTitle, string? yTitle)
    {
        doc.BeginGroup("axes");
        doc.Rect(area.Left, area.Top, area.Width, area.Height, stroke: Ink);
        foreach (var t in x.Ticks)
        {
            var px = MapX(area, x, t);
            doc.Line(px, area.Bottom, px, area.Bottom + TickLength, Ink, cssClass: "tick");
            doc.Text(px, area.Bottom + TickLength + Gap + TickFont - 1, x.Label(t), TickFont, TextAnchor.Middle, Ink, cssClass: "tick-label");
        }

        var yLabelWidth = 0.0;
        foreach (var t in y.Ticks)
        {
            var py = MapY(area, y, t);
            var label = y.Label(t);
            yLabelWidth = Math.Max(yLabelWidth, SvgFormat.TextWidth(label, TickFont));
            doc.Line(area.Left - TickLength, py, area.Left, py, Ink, cssClass: "tick");
            doc.Text(area.Left - TickLength - Gap, py, label, TickFont, TextAnchor.End, Ink, middleBaseline: true, cssClass: "tick-label");
        }

        if (!string.IsNullOrEmpty(xTitle))
        {
            doc.Text(area.Left + (area.Width / 2), outer.Bottom - 8, xTitle, AxisTitleFont, TextAnchor.Middle, Ink, cssClass: "axis-title");
        }

        if (!string.IsNullOrEmpty(yTitle))
        {
            var tx = outer.Left + 8 + AxisTitleFont - 2;
            var ty = area.Top + (area.Height / 2);
            doc.Text(tx, ty, yTitle, AxisTitleFont, TextAnchor.Middle, Ink, rotate: -90, cssClass: "axis-title");
        }

        doc.EndGroup();
    }

    /// <summary>A bold title centred over <paramref name="outer"/>.</summary>
    public static void Title(SvgDocument doc, Box outer, string? title, double centreX)
    {
        if (!string.IsNullOrEmpty(title))
        {
            doc.Text(centreX, outer.Top + TitleFont + 6, title, TitleFont, TextAnchor.Middle, Ink, bold: true, cssClass: "title");
        }
    }

    /// <summary>
    /// A legend box in whichever corner of <paramref name="area"/> covers the fewest of <paramref name="occupied"/>
    /// points (preferring top-right, then bottom-right, top-left, bottom-left).
    /// </summary>
    public static void Legend(SvgDocument doc, Box area, IReadOnlyList<LegendEntry> entries, IReadOnlyList<(double X, double Y)> occupied)
    {
        if (entries.Count == 0)
        {
            return;
        }

        const double pad = 6;
        const double swatch = 22;
        const double rowHeight = LegendFont + 6;
        var width = pad + swatch + 6 + entries.Max(e => SvgFormat.TextWidth(e.Name, LegendFont)) + pad;
        var height = (2 * pad) + (entries.Count * rowHeight) - 4;
        const double inset = 8;
        Box[] corners =
        [
            new(area.Right - inset - width, area.Top + inset, width, height),
            new(area.Right - inset - width, area.Bottom - inset - height, width, height),
            new(area.Left + inset, area.Top + inset, width, height),
            new(area.Left + inset, area.Bottom - inset - height, width, height),
        ];
        var best = corners[0];
        var bestCount = int.MaxValue;
        foreach (var corner in corners)
        {
            var count = 0;
            foreach (var (px, py) in occupied)
            {
                // A margin around the box: a line just above or beside it would otherwise look covered.
                if (px >= corner.Left - 10 && px <= corner.Right + 10 && py >= corner.Top - 10 && py <= corner.Bottom + 10)
                {
                    count++;
                }
            }

            if (count < bestCount)
            {
                (best, bestCount) = (corner, count);
            }
        }

        doc.BeginGroup("legend");
        doc.Rect(best.Left, best.Top, best.Width, best.Height, fill: "#FFFFFF", stroke: "#BBBBBB");
        for (var i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            var cy = best.Top + pad + (i * rowHeight) + (LegendFont / 2) + 1;
            var x0 = best.Left + pad;
            switch (e.Mark)
            {
                case LegendMark.Dot:
                    doc.Circle(x0 + (swatch / 2), cy, 4.5, e.Color, "#333333", 0.8);
                    break;
                default:
                    doc.Line(x0, cy, x0 + swatch, cy, e.Color, 2.5, e.Mark == LegendMark.DashedLine ? "6 3" : null);
                    break;
            }

            doc.Text(x0 + swatch + 6, cy, e.Name, LegendFont, TextAnchor.Start, Ink, middleBaseline: true, cssClass: "legend-label");
        }

        doc.EndGroup();
    }

    /// <summary>Samples points along a polyline (its vertices and points between them) so legend placement sees the whole line.</summary>
    public static IEnumerable<(double X, double Y)> Densify(IReadOnlyList<(double X, double Y)> line, double spacing = 6)
    {
        for (var i = 0; i < line.Count; i++)
        {
            yield return line[i];
            if (i + 1 < line.Count)
            {
                var (x0, y0) = line[i];
                var (x1, y1) = line[i + 1];
                var n = (int)Math.Min(200, Math.Sqrt(((x1 - x0) * (x1 - x0)) + ((y1 - y0) * (y1 - y0))) / spacing);
                for (var k = 1; k < n; k++)
                {
                    var u = k / (double)n;
                    yield return (x0 + (u * (x1 - x0)), y0 + (u * (y1 - y0)));
                }
            }
        }
    }
}
