namespace DeepLearning;

/// <summary>One named series of a <see cref="LineChart"/>: points (X[i], Y[i]) joined in order.</summary>
/// <param name="Name">Shown in the legend.</param>
/// <param name="X">x values (copied when added).</param>
/// <param name="Y">y values, same length as <paramref name="X"/>.</param>
/// <param name="Color">Line colour as <c>#RRGGBB</c>.</param>
/// <param name="Dashed">Draw the line dashed (e.g. a dev-set curve next to its training curve).</param>
public sealed record LineSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y, string Color, bool Dashed);

/// <summary>
/// A line chart of one or more named series, e.g. learning curves: cost J per epoch or iteration, train/dev accuracy
/// per epoch. Points whose x or y is NaN or ±∞ (or y ≤ 0 on a log axis) are skipped and break the line there; any
/// finite point is drawn, up to ±double.MaxValue.
/// The y axis is widened to nice tick values, the x axis spans the data; the legend goes into the emptiest corner.
/// </summary>
public sealed class LineChart
{
    private readonly List<LineSeries> _series = [];
    private readonly List<bool> _scatter = [];

    /// <summary>Creates an empty chart.</summary>
    /// <param name="title">Title above the chart, or null.</param>
    /// <param name="xLabel">x-axis title, or null.</param>
    /// <param name="yLabel">y-axis title, or null.</param>
    public LineChart(string? title = null, string? xLabel = null, string? yLabel = null)
    {
        Title = title;
        XLabel = xLabel;
        YLabel = yLabel;
    }

    /// <summary>Title above the chart, or null for none.</summary>
    public string? Title { get; set; }

    /// <summary>x-axis title, or null.</summary>
    public string? XLabel { get; set; }

    /// <summary>y-axis title, or null.</summary>
    public string? YLabel { get; set; }

    /// <summary>Logarithmic (base-10) y axis; non-positive y values are then skipped.</summary>
    public bool LogY { get; set; }

    /// <summary>Logarithmic (base-10) x axis, e.g. a learning rate α; non-positive x values are then skipped.</summary>
    public bool LogX { get; set; }

    /// <summary>Draw a dot at each point: null (default) means only when a series has at most 40 points.</summary>
    public bool? Markers { get; set; }

    /// <summary>Show the legend (default: when there are two or more series).</summary>
    public bool? ShowLegend { get; set; }

    /// <summary>An x value to mark with a vertical dashed line and a label (e.g. the best epoch), or null.</summary>
    public (double X, string Label)? Marker { get; set; }

    /// <summary>The series added so far.</summary>
    public IReadOnlyList<LineSeries> Series => _series;

    /// <summary>Adds a series of points (x[i], y[i]).</summary>
    /// <param name="name">Legend name.</param>
    /// <param name="x">x values.</param>
    /// <param name="y">y values; same length as <paramref name="x"/>, at least one.</param>
    /// <param name="color">Colour as <c>#RRGGBB</c>; default: the next <see cref="Palette.Categorical"/> colour.</param>
    /// <param name="dashed">Dashed line.</param>
    /// <returns>This chart, for chaining.</returns>
    public LineChart Add(string name, IReadOnlyList<double> x, IReadOnlyList<double> y, string? color = null, bool dashed = false)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count)
        {
            throw new ArgumentException($"series '{name}': x and y must have the same length; received {x.Count} and {y.Count}", nameof(y));
        }

        if (y.Count == 0)
        {
            throw new ArgumentException($"series '{name}' is empty", nameof(y));
        }

        _series.Add(new LineSeries(name, [.. x], [.. y], color ?? Palette.Color(_series.Count), dashed));
        _scatter.Add(false);
        return this;
    }

    /// <summary>Adds a scatter series: a marker at each point (x[i], y[i]), not joined by lines.</summary>
    /// <param name="name">Legend name.</param>
    /// <param name="x">x values.</param>
    /// <param name="y">y values; same length as <paramref name="x"/>, at least one.</param>
    /// <param name="color">Colour as <c>#RRGGBB</c>; default: the next palette colour.</param>
    /// <returns>This chart, for chaining.</returns>
    public LineChart AddScatter(string name, IReadOnlyList<double> x, IReadOnlyList<double> y, string? color = null)
    {
        Add(name, x, y, color);
        _scatter[^1] = true;
        return this;
    }

    /// <summary>Adds a series with y values at x = <paramref name="xStart"/>, <paramref name="xStart"/> + <paramref name="xStep"/>, … (e.g. one value per epoch, counting from 1).</summary>
    /// <param name="name">Legend name.</param>
    /// <param name="y">y values; at least one.</param>
    /// <param name="xStart">x of the first value.</param>
    /// <param name="xStep">x distance between consecutive values.</param>
    /// <param name="color">Colour as <c>#RRGGBB</c>; default: the next palette colour.</param>
    /// <param name="dashed">Dashed line.</param>
    /// <returns>This chart, for chaining.</returns>
    public LineChart Add(string name, IReadOnlyList<double> y, double xStart = 1, double xStep = 1, string? color = null, bool dashed = false)
    {
        ArgumentNullException.ThrowIfNull(y);
        var x = new double[y.Count];
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = xStart + (i * xStep);
        }

        return Add(name, x, y, color, dashed);
    }

    /// <summary>Renders the chart as a <paramref name="width"/> × <paramref name="height"/> SVG document.</summary>
    /// <param name="width">Document width in user units (pixels at natural size).</param>
    /// <param name="height">Document height.</param>
    /// <returns>The document.</returns>
    /// <exception cref="InvalidOperationException">No series, or no finite point to show.</exception>
    public SvgDocument ToSvg(double width = 720, double height = 450)
    {
        var doc = new SvgDocument(width, height);
        Draw(doc, new Box(0, 0, width, height));
        return doc;
    }

    /// <inheritdoc cref="ToSvg"/>
    public override string ToString() => ToSvg().ToString();

    internal void Draw(SvgDocument doc, Box outer)
    {
        if (_series.Count == 0)
        {
            throw new InvalidOperationException($"line chart '{Title}' has no series to draw");
        }

        double xMin = double.PositiveInfinity, xMax = double.NegativeInfinity;
        double yMin = double.PositiveInfinity, yMax = double.NegativeInfinity;
        var integerX = true;
        foreach (var s in _series)
        {
            for (var i = 0; i < s.Y.Count; i++)
            {
                if (Visible(s.X[i], s.Y[i]))
                {
                    xMin = Math.Min(xMin, s.X[i]);
                    xMax = Math.Max(xMax, s.X[i]);
                    yMin = Math.Min(yMin, s.Y[i]);
                    yMax = Math.Max(yMax, s.Y[i]);
                    integerX &= s.X[i] == Math.Round(s.X[i]);
                }
            }
        }

        if (xMin > xMax)
        {
            var names = string.Join(", ", _series.Select(s => $"'{s.Name}'"));
            throw new InvalidOperationException(
                $"line chart '{Title}': no finite{(LogY ? ", positive" : string.Empty)} point in series {names}");
        }

        // A small margin keeps the first and last markers off the frame: 3% of the range (taken from halves, and kept
        // finite, for x near ±double.MaxValue), or on a log axis 3% of the range of log₁₀ x.
        if (LogX)
        {
            var ratio = xMax <= xMin ? 1
                : double.IsFinite(xMax / xMin) ? Math.Pow(xMax / xMin, 0.03)
                : Math.Pow(10, 0.03 * (Math.Log10(xMax) - Math.Log10(xMin)));
            (xMin, xMax) = (Math.Max(xMin / ratio, double.Epsilon), Math.Min(xMax * ratio, double.MaxValue));
        }
        else
        {
            var xWidth = xMax - xMin;
            var xPad = double.IsFinite(xWidth) ? xWidth * 0.03 : ((xMax / 2) - (xMin / 2)) * 0.06;
            (xMin, xMax) = (Math.Max(xMin - xPad, double.MinValue), Math.Min(xMax + xPad, double.MaxValue));
        }

        // Probe layout with a guess, then size the tick count to the plot area it leaves.
        var xAxis = LogX ? Axis.Log(xMin, xMax) : Axis.Linear(xMin, xMax, 8, niceBounds: false, integerTicks: integerX);
        var yAxis = LogY ? Axis.Log(yMin, yMax) : Axis.Linear(yMin, yMax, 6);
        var area = Frame.PlotArea(outer, xAxis, yAxis, XLabel, YLabel, Title);
        xAxis = LogX ? Axis.Log(xMin, xMax, Math.Clamp((int)(area.Width / 60), 2, 12)) : Axis.Linear(xMin, xMax, Math.Clamp((int)(area.Width / 70), 3, 11), niceBounds: false, integerTicks: integerX);
        yAxis = LogY ? Axis.Log(yMin, yMax, Math.Clamp((int)(area.Height / 30), 2, 12)) : Axis.Linear(yMin, yMax, Math.Clamp((int)(area.Height / 45), 3, 10));
        area = Frame.PlotArea(outer, xAxis, yAxis, XLabel, YLabel, Title);

        Frame.Title(doc, outer, Title, area.Left + (area.Width / 2));
        Frame.Grid(doc, area, xAxis, yAxis);
        var occupied = new List<(double X, double Y)>();
        doc.BeginGroup("series");
        foreach (var (s, scatter) in _series.Zip(_scatter))
        {
            var markers = scatter || (Markers ?? s.Y.Count <= 40);
            var segment = new List<(double X, double Y)>();
            var all = new List<(double X, double Y)>();
            for (var i = 0; i <= s.Y.Count; i++)
            {
                if (i < s.Y.Count && Visible(s.X[i], s.Y[i]))
                {
                    segment.Add((Frame.MapX(area, xAxis, s.X[i]), Frame.MapY(area, yAxis, s.Y[i])));
                    continue;
                }

                if (segment.Count > 1 && !scatter)
                {
                    doc.Polyline(segment, s.Color, 2, s.Dashed ? "7 4" : null, cssClass: "line");
                }

                occupied.AddRange(Frame.Densify(segment));
                all.AddRange(segment);
                if (segment.Count == 1 && !markers)
                {
                    // An isolated point would be invisible without a marker.
                    doc.Circle(segment[0].X, segment[0].Y, 2.5, s.Color, cssClass: "point");
                }

                segment.Clear();
            }

            if (markers)
            {
                var r = all.Count > 25 ? 2.2 : 3;
                foreach (var (px, py) in all)
                {
                    doc.Circle(px, py, r, s.Dashed ? "#FFFFFF" : s.Color, s.Color, 1.5, cssClass: "point");
                }
            }
        }

        doc.EndGroup();
        if (Marker is { } mark && double.IsFinite(mark.X) && mark.X >= xMin && mark.X <= xMax)
        {
            double mx = Frame.MapX(area, xAxis, mark.X);
            doc.Line(mx, area.Top, mx, area.Bottom, "#555555", 1.2, "4 3", cssClass: "marker");
            doc.Text(mx + 4, area.Top + 14, mark.Label, 11, fill: "#333333", cssClass: "marker-label");
        }

        Frame.Axes(doc, outer, area, xAxis, yAxis, XLabel, YLabel);
        if (ShowLegend ?? _series.Count > 1)
        {
            var entries = _series.Zip(_scatter).Select(p => new LegendEntry(p.First.Name, p.First.Color, p.Second ? LegendMark.Dot : p.First.Dashed ? LegendMark.DashedLine : LegendMark.Line)).ToList();
            Frame.Legend(doc, area, entries, occupied);
        }
    }

    private bool Visible(double x, double y) =>
        double.IsFinite(x) && double.IsFinite(y) && (!LogY || y > 0) && (!LogX || x > 0);
}
