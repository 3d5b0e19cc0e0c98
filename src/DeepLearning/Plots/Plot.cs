using System.Globalization;
using System.Numerics;

namespace DeepLearning;

/// <summary>
/// Ready-made figures for training a network: learning curves, line charts, the decision boundary of a classifier on
/// 2-D inputs and a confusion-matrix heat map. Each returns an <see cref="SvgDocument"/>: call
/// <see cref="SvgDocument.Save"/> (atomic) or <see cref="SvgDocument.ToString"/>.
/// </summary>
public static class Plot
{
    // Distinct classes a decision-boundary plot accepts without classNames (one legend entry each).
    private const int MaxUnnamedClasses = 1000;

    /// <summary>
    /// Learning curves: the cost J per epoch (or per iteration) on the left, and the train and dev metric
    /// (e.g. accuracy) per epoch on the right. With no metric, only the cost panel is drawn.
    /// Non-finite values are skipped (a diverged run still plots what it has).
    /// </summary>
    /// <param name="cost">Cost J, one value per epoch (or per <paramref name="costXLabel"/> unit), counted from 1; at least one.</param>
    /// <param name="trainMetric">Training-set metric per epoch, or null.</param>
    /// <param name="devMetric">Dev-set metric per epoch, or null.</param>
    /// <param name="metricName">Name of the metric, e.g. "accuracy".</param>
    /// <param name="costXLabel">Unit of the cost's x axis, e.g. "epoch" or "iteration".</param>
    /// <param name="logCost">Logarithmic cost axis.</param>
    /// <param name="title">Figure title, or null.</param>
    /// <param name="width">Document width.</param>
    /// <param name="height">Document height.</param>
    /// <returns>The figure.</returns>
    public static SvgDocument LearningCurves(
        IReadOnlyList<double> cost,
        IReadOnlyList<double>? trainMetric = null,
        IReadOnlyList<double>? devMetric = null,
        string metricName = "accuracy",
        string costXLabel = "epoch",
        bool logCost = false,
        string? title = "Learning curves",
        double width = 1000,
        double height = 420)
    {
        ArgumentNullException.ThrowIfNull(cost);
        ArgumentNullException.ThrowIfNull(metricName);
        if (cost.Count == 0)
        {
            throw new ArgumentException("cost is empty: there is no learning curve to plot", nameof(cost));
        }

        var costChart = new LineChart("Cost", costXLabel, logCost ? "cost J (log scale)" : "cost J") { LogY = logCost };
        costChart.Add("cost", cost);

        LineChart? metricChart = null;
        if (trainMetric is { Count: > 0 } || devMetric is { Count: > 0 })
        {
            metricChart = new LineChart(Capitalize(metricName), "epoch", metricName) { ShowLegend = true };
            if (trainMetric is { Count: > 0 })
            {
                metricChart.Add("train", trainMetric, color: Palette.Color(0));
            }

            if (devMetric is { Count: > 0 })
            {
                metricChart.Add("dev", devMetric, color: Palette.Color(1), dashed: true);
            }
        }

        return CostAndMetric(costChart, metricChart, title, width, height);
    }

    /// <summary>
    /// Learning curves of a training run: train and dev cost per epoch on the left, train and dev metric (accuracy, or
    /// RMSE for a regression) on the right, with the <see cref="History.BestEpoch"/> (the epoch early stopping restored)
    /// marked on both. Epochs without a value are skipped.
    /// </summary>
    /// <param name="history">The history returned by Fit; at least one epoch.</param>
    /// <param name="title">Figure title, or null.</param>
    /// <param name="width">Document width.</param>
    /// <param name="height">Document height.</param>
    /// <returns>The figure.</returns>
    public static SvgDocument LearningCurves(History history, string? title = "Learning curves", double width = 1000, double height = 420)
    {
        ArgumentNullException.ThrowIfNull(history);
        if (history.Count == 0)
        {
            throw new ArgumentException("the history has no epochs: there is no learning curve to plot", nameof(history));
        }

        var epochs = history.Epochs;
        double[] x = epochs.Select(e => (double)e.Epoch).ToArray();
        double[] Values(Func<EpochRecord, double?> f) => epochs.Select(e => f(e) ?? double.NaN).ToArray();
        (double, string)? marker = history.BestEpoch is { } best ? (best.Epoch, $"best epoch {best.Epoch} ({history.Monitor})") : null;

        var costChart = new LineChart("Cost", "epoch", "cost J") { ShowLegend = true, Marker = marker };
        costChart.Add("train", x, Values(e => e.Cost), color: Palette.Color(0));
        if (epochs.Any(e => e.DevCost.HasValue))
        {
            costChart.Add("dev", x, Values(e => e.DevCost), color: Palette.Color(1), dashed: true);
        }

        LineChart? metricChart = null;
        if (epochs.Any(e => e.TrainMetric.HasValue || e.DevMetric.HasValue))
        {
            metricChart = new LineChart(Capitalize(history.MetricName), "epoch", history.MetricName) { ShowLegend = true, Marker = marker };
            if (epochs.Any(e => e.TrainMetric.HasValue))
            {
                metricChart.Add("train", x, Values(e => e.TrainMetric), color: Palette.Color(0));
            }

            if (epochs.Any(e => e.DevMetric.HasValue))
            {
                metricChart.Add("dev", x, Values(e => e.DevMetric), color: Palette.Color(1), dashed: true);
            }
        }

        return CostAndMetric(costChart, metricChart, title, width, height);
    }

    // The cost panel alone (the figure title then replaces the panel title), or cost left and metric right under it.
    private static SvgDocument CostAndMetric(LineChart costChart, LineChart? metricChart, string? title, double width, double height)
    {
        var doc = new SvgDocument(width, height);
        if (metricChart is null)
        {
            costChart.Title = title;
            costChart.Draw(doc, new Box(0, 0, width, height));
            return doc;
        }

        double top = 0;
        if (!string.IsNullOrEmpty(title))
        {
            Frame.Title(doc, new Box(0, 0, width, height), title, width / 2);
            top = Frame.TitleFont + 10;
        }

        costChart.Draw(doc, new Box(0, top, width / 2, height - top));
        metricChart.Draw(doc, new Box(width / 2, top, width / 2, height - top));
        return doc;
    }

    /// <summary>
    /// A confusion-matrix heat map from an <see cref="DeepLearning.ConfusionMatrix"/> (e.g. <c>evaluation.ConfusionMatrix</c>),
    /// labelled with its <see cref="DeepLearning.ConfusionMatrix.ClassNames"/>; see <see cref="ConfusionMatrix(int[,], IReadOnlyList{string}?, string?, bool)"/>.
    /// </summary>
    /// <param name="matrix">The counts.</param>
    /// <param name="title">Title, or null.</param>
    /// <param name="normalizeRows">Shade by the fraction of each true class.</param>
    /// <returns>The figure.</returns>
    public static SvgDocument ConfusionMatrix(ConfusionMatrix matrix, string? title = "Confusion matrix", bool normalizeRows = false)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        int k = matrix.ClassCount;
        var counts = new int[k, k];
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++)
            {
                long v = matrix[i, j];
                counts[i, j] = v > int.MaxValue ? throw new ArgumentException($"count [{i}, {j}] = {v} is too large to plot", nameof(matrix)) : (int)v;
            }
        }

        return ConfusionMatrix(counts, matrix.ClassNames, title, normalizeRows);
    }

    /// <summary>A line chart of named series of y values at x = 1, 2, … (e.g. one value per epoch).</summary>
    /// <param name="title">Chart title, or null.</param>
    /// <param name="xLabel">x-axis title, or null.</param>
    /// <param name="yLabel">y-axis title, or null.</param>
    /// <param name="series">The series; at least one, each with at least one value. Any finite values are drawn, up to
    /// ±double.MaxValue; NaN and ±∞ are skipped.</param>
    /// <returns>The figure.</returns>
    public static SvgDocument Lines(string? title, string? xLabel, string? yLabel, params (string Name, IReadOnlyList<double> Y)[] series)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (series.Length == 0)
        {
            throw new ArgumentException("no series given: pass at least one (name, values) pair", nameof(series));
        }

        var chart = new LineChart(title, xLabel, yLabel);
        foreach (var (name, y) in series)
        {
            chart.Add(name, y);
        }

        return chart.ToSvg();
    }

    /// <summary>
    /// The decision regions of a classifier on 2-D inputs, with the examples on top. The classifier is called once,
    /// on a grid of <paramref name="resolution"/>² points (a (resolution², 2) tensor, row-major with x₁ varying
    /// fastest and x₂ running from the top of the plot down) covering the data plus a margin; it returns one class
    /// index per row. Regions are painted as horizontal runs of equal class, points are coloured by label.
    /// </summary>
    /// <typeparam name="T">float or double.</typeparam>
    /// <param name="x">Examples, (m, 2); finite.</param>
    /// <param name="labels">Class of each example, length m, each ≥ 0.</param>
    /// <param name="classify">Maps a (k, 2) batch to k class indices (e.g. <c>argmax</c> of the model's output).</param>
    /// <param name="resolution">Grid points per axis, in [2, 2000].</param>
    /// <param name="title">Title, or null.</param>
    /// <param name="classNames">Legend names indexed by class (enough to cover the largest class among the labels and the
    /// classifier's answers), or null for "class 0", "class 1", …. Without names at most 1,000 distinct classes may occur.
    /// The legend lists the classes that occur, in increasing order.</param>
    /// <param name="xLabel">Title of the horizontal axis (first feature).</param>
    /// <param name="yLabel">Title of the vertical axis (second feature).</param>
    /// <param name="width">Document width.</param>
    /// <param name="height">Document height.</param>
    /// <param name="margin">Space around the data on each side, as a fraction of its range, in [0, 1].</param>
    /// <returns>The figure.</returns>
    public static SvgDocument DecisionBoundary<T>(
        Tensor<T> x,
        int[] labels,
        Func<Tensor<T>, int[]> classify,
        int resolution = 200,
        string? title = "Decision boundary",
        IReadOnlyList<string>? classNames = null,
        string xLabel = "x₁",
        string yLabel = "x₂",
        double width = 640,
        double height = 560,
        double margin = 0.08)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classify);
        if (x.Rank != 2 || x.Dim(1) != 2)
        {
            throw new ArgumentException($"x must be (m, 2); received {x.ShapeText}", nameof(x));
        }

        var m = x.RowCount;
        if (m == 0)
        {
            throw new ArgumentException("x has no examples to plot", nameof(x));
        }

        if (labels.Length != m)
        {
            throw new ArgumentException($"labels must have one entry per row of x ({m}); received {labels.Length}", nameof(labels));
        }

        if (resolution is < 2 or > 2000)
        {
            throw new ArgumentOutOfRangeException(nameof(resolution), resolution, $"resolution must be in [2, 2000]; received {resolution}");
        }

        if (!(margin >= 0 && margin <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(margin), margin, $"margin must be in [0, 1]; received {margin}");
        }

        var px = new double[m];
        var py = new double[m];
        for (var i = 0; i < m; i++)
        {
            px[i] = double.CreateChecked(x[i, 0]);
            py[i] = double.CreateChecked(x[i, 1]);
            if (!double.IsFinite(px[i]) || !double.IsFinite(py[i]))
            {
                throw new ArgumentException($"x must be finite; row {i} is ({Invariant(px[i])}, {Invariant(py[i])})", nameof(x));
            }

            if (labels[i] < 0)
            {
                throw new ArgumentException($"labels must be non-negative class indices; labels[{i}] is {labels[i]}", nameof(labels));
            }
        }

        // The narrowest range plotted: Axis.MinimumSpan, or for float inputs one whose grid steps are normal floats
        // (T.Epsilon·1e15 ≈ 1.4e-30), so the grid points handed to classify stay distinct in T.
        var minimumSpan = Math.Max(Axis.MinimumSpan, double.CreateChecked(T.Epsilon) * 1e15);
        var (x0, x1) = Padded(px.Min(), px.Max(), margin, minimumSpan);
        var (y0, y1) = Padded(py.Min(), py.Max(), margin, minimumSpan);
        if (!double.IsFinite(x1 - x0) || !double.IsFinite(y1 - y0))
        {
            throw new ArgumentException(
                $"x spans too wide a range to plot with margin {Invariant(margin)}: x₁ in [{Invariant(px.Min())}, {Invariant(px.Max())}], x₂ in [{Invariant(py.Min())}, {Invariant(py.Max())}]; the padded range must stay below double.MaxValue",
                nameof(x));
        }

        // One batched call: (resolution², 2), cell centres, x₁ fastest, x₂ from top (y1) to bottom (y0).
        var grid = new Tensor<T>(resolution * resolution, 2);
        var cellX = (x1 - x0) / resolution;
        var cellY = (y1 - y0) / resolution;
        var gridSpan = grid.Span;
        for (var j = 0; j < resolution; j++)
        {
            var gy = T.CreateChecked(y1 - ((j + 0.5) * cellY));
            for (var i = 0; i < resolution; i++)
            {
                var r = (j * resolution) + i;
                gridSpan[2 * r] = T.CreateChecked(x0 + ((i + 0.5) * cellX));
                gridSpan[(2 * r) + 1] = gy;
            }
        }

        var predicted = classify(grid)
            ?? throw new InvalidOperationException("classify returned null; expected one class index per grid row");
        if (predicted.Length != resolution * resolution)
        {
            throw new InvalidOperationException(
                $"classify must return one class per grid row ({resolution * resolution}); received {predicted.Length}");
        }

        // The legend lists the classes that occur (among the labels or the predictions), not every index below the
        // largest: a stray label of 1,000,000,000 must not ask for a billion entries.
        var counts = new Dictionary<int, int>();
        for (var r = 0; r < predicted.Length; r++)
        {
            if (predicted[r] < 0)
            {
                throw new InvalidOperationException($"classify returned a negative class {predicted[r]} at grid row {r}");
            }

            counts[predicted[r]] = counts.GetValueOrDefault(predicted[r]) + 1;
        }

        var present = new SortedSet<int>(labels);
        if (classNames is null && present.Count > MaxUnnamedClasses)
        {
            throw new ArgumentException(
                $"labels hold {present.Count} distinct classes (largest {present.Max}); a decision-boundary plot without classNames shows at most {MaxUnnamedClasses}: pass classNames or map the labels to fewer classes",
                nameof(labels));
        }

        present.UnionWith(counts.Keys);
        if (classNames is not null)
        {
            var needed = (long)present.Max + 1;
            if (classNames.Count < needed)
            {
                throw new ArgumentException(
                    $"classNames must name all {needed} classes (class indices 0 … {present.Max} occur among the labels and the classifier's answers); received {classNames.Count}",
                    nameof(classNames));
            }
        }
        else if (present.Count > MaxUnnamedClasses)
        {
            throw new InvalidOperationException(
                $"the labels and classify's answers hold {present.Count} distinct classes (largest {present.Max}); a decision-boundary plot without classNames shows at most {MaxUnnamedClasses}: pass classNames or have classify return fewer classes");
        }

        var doc = new SvgDocument(width, height);
        var outer = new Box(0, 0, width, height);
        var xAxis = Axis.Linear(x0, x1, 7, niceBounds: false);
        var yAxis = Axis.Linear(y0, y1, 7, niceBounds: false);
        var area = Frame.PlotArea(outer, xAxis, yAxis, xLabel, yLabel, title);
        xAxis = Axis.Linear(x0, x1, Math.Clamp((int)(area.Width / 70), 3, 10), niceBounds: false);
        yAxis = Axis.Linear(y0, y1, Math.Clamp((int)(area.Height / 50), 3, 10), niceBounds: false);
        area = Frame.PlotArea(outer, xAxis, yAxis, xLabel, yLabel, title);
        Frame.Title(doc, outer, title, area.Left + (area.Width / 2));

        // Regions: the most common class as one background rectangle, the others as horizontal runs.
        var background = counts.MaxBy(kv => kv.Value).Key;
        var cw = area.Width / resolution;
        var ch = area.Height / resolution;
        doc.BeginGroup("regions", crispEdges: true);
        doc.Rect(area.Left, area.Top, area.Width, area.Height, RegionColor(background), cssClass: "region-background");
        for (var j = 0; j < resolution; j++)
        {
            var row = predicted.AsSpan(j * resolution, resolution);
            var start = 0;
            while (start < resolution)
            {
                var end = start + 1;
                while (end < resolution && row[end] == row[start])
                {
                    end++;
                }

                if (row[start] != background)
                {
                    doc.Rect(area.Left + (start * cw), area.Top + (j * ch), (end - start) * cw, ch, RegionColor(row[start]), cssClass: "region");
                }

                start = end;
            }
        }

        doc.EndGroup();

        var radius = m <= 300 ? 4 : m <= 1000 ? 3.2 : 2.4;
        var occupied = new List<(double X, double Y)>(m);
        doc.BeginGroup("points");
        for (var i = 0; i < m; i++)
        {
            var cx = Frame.MapX(area, xAxis, px[i]);
            var cy = Frame.MapY(area, yAxis, py[i]);
            occupied.Add((cx, cy));
            doc.Circle(cx, cy, radius, Palette.Color(labels[i]), "#1A1A1A", 0.8, cssClass: "point");
        }

        doc.EndGroup();
        Frame.Axes(doc, outer, area, xAxis, yAxis, xLabel, yLabel);
        var entries = present
            .Select(k => new LegendEntry(classNames?[k] ?? $"class {k}", Palette.Color(k), LegendMark.Dot))
            .ToList();
        Frame.Legend(doc, area, entries, occupied);
        return doc;

        static string RegionColor(int k) => Palette.Tint(Palette.Color(k), 0.3);
    }

    /// <summary>
    /// A confusion-matrix heat map: row = true class, column = predicted class, each cell shaded by its count
    /// (relative to the largest cell, or to its row's total with <paramref name="normalizeRows"/>) and labelled with
    /// the count in black or white, whichever contrasts more. The subtitle gives accuracy = trace / total.
    /// </summary>
    /// <param name="counts">Square (k, k) counts, counts[true, predicted] ≥ 0.</param>
    /// <param name="classNames">k class names, or null for 0 … k−1.</param>
    /// <param name="title">Title, or null.</param>
    /// <param name="normalizeRows">Shade by the fraction of each true class (useful when classes are imbalanced).</param>
    /// <returns>The figure.</returns>
    public static SvgDocument ConfusionMatrix(int[,] counts, IReadOnlyList<string>? classNames = null, string? title = "Confusion matrix", bool normalizeRows = false)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var k = counts.GetLength(0);
        if (k == 0 || counts.GetLength(1) != k)
        {
            throw new ArgumentException($"counts must be a non-empty square (k, k) matrix; received ({k}, {counts.GetLength(1)})", nameof(counts));
        }

        if (classNames is not null && classNames.Count != k)
        {
            throw new ArgumentException($"classNames must have {k} entries, one per row of counts; received {classNames.Count}", nameof(classNames));
        }

        long total = 0, trace = 0;
        var max = 0;
        var rowSums = new long[k];
        for (var r = 0; r < k; r++)
        {
            for (var c = 0; c < k; c++)
            {
                var v = counts[r, c];
                if (v < 0)
                {
                    throw new ArgumentException($"counts must be non-negative; counts[{r}, {c}] is {v}", nameof(counts));
                }

                total += v;
                rowSums[r] += v;
                trace += r == c ? v : 0;
                max = Math.Max(max, v);
            }
        }

        var names = Enumerable.Range(0, k).Select(i => classNames?[i] ?? i.ToString(CultureInfo.InvariantCulture)).ToArray();
        const double labelFont = 12;
        var cell = Math.Clamp(480.0 / k, 30, 72);
        var longestCount = max.ToString(CultureInfo.InvariantCulture).Length;
        var countFont = Math.Min(Math.Min(15, cell * 0.36), (cell - 6) / (0.6 * longestCount));
        var rowLabelWidth = names.Max(n => SvgFormat.TextWidth(n, labelFont));
        var colLabelWidth = rowLabelWidth;
        var rotate = colLabelWidth > cell - 6;
        var colLabelExtent = rotate ? (colLabelWidth * Math.Sqrt(0.5)) + labelFont : labelFont;

        var subtitle = total == 0
            ? "n = 0"
            : string.Create(CultureInfo.InvariantCulture, $"accuracy {(double)trace / total:0.0000}   (n = {total})");
        var top = (string.IsNullOrEmpty(title) ? 10 : Frame.TitleFont + 14) + labelFont + 14;
        var left = 10 + Frame.AxisTitleFont + 10 + rowLabelWidth + 8;
        var gridSize = k * cell;
        var bottom = 6 + colLabelExtent + 10 + Frame.AxisTitleFont + 10;
        var titleWidth = Math.Max(
            SvgFormat.TextWidth(title ?? string.Empty, Frame.TitleFont),
            SvgFormat.TextWidth(subtitle, labelFont));
        var width = Math.Max(left + gridSize + 24, titleWidth + 40);
        var height = top + gridSize + bottom;
        var doc = new SvgDocument(width, height);

        // Centre headings over the grid when they fit there, otherwise over the page.
        var centre = left + (gridSize / 2);
        if (centre - (titleWidth / 2) < 10 || centre + (titleWidth / 2) > width - 10)
        {
            centre = width / 2;
        }

        var headingY = 6.0;
        if (!string.IsNullOrEmpty(title))
        {
            headingY += Frame.TitleFont + 4;
            doc.Text(centre, headingY, title, Frame.TitleFont, TextAnchor.Middle, Frame.Ink, bold: true, cssClass: "title");
        }

        doc.Text(centre, headingY + labelFont + 6, subtitle, labelFont, TextAnchor.Middle, "#555555", cssClass: "subtitle");

        doc.BeginGroup("cells");
        for (var r = 0; r < k; r++)
        {
            for (var c = 0; c < k; c++)
            {
                var v = counts[r, c];
                var denominator = normalizeRows ? rowSums[r] : max;
                var fill = Palette.Sequential(denominator == 0 ? 0 : (double)v / denominator);
                var x = left + (c * cell);
                var y = top + (r * cell);
                doc.Rect(x, y, cell, cell, fill, "#FFFFFF", 1, cssClass: "cell");
                var ink = v == 0 ? "#A0A0A0" : Palette.ContrastingText(fill);
                doc.Text(x + (cell / 2), y + (cell / 2), v.ToString(CultureInfo.InvariantCulture), countFont, TextAnchor.Middle, ink, middleBaseline: true, cssClass: "count");
            }
        }

        doc.EndGroup();
        doc.Rect(left, top, gridSize, gridSize, stroke: "#888888", strokeWidth: 1);

        doc.BeginGroup("labels");
        for (var i = 0; i < k; i++)
        {
            var cy = top + (i * cell) + (cell / 2);
            doc.Text(left - 8, cy, names[i], labelFont, TextAnchor.End, Frame.Ink, middleBaseline: true, cssClass: "row-label");
            var cx = left + (i * cell) + (cell / 2);
            if (rotate)
            {
                var ly = top + gridSize + 8;
                doc.Text(cx + 4, ly + 4, names[i], labelFont, TextAnchor.End, Frame.Ink, rotate: -45, cssClass: "column-label");
            }
            else
            {
                doc.Text(cx, top + gridSize + 6 + labelFont, names[i], labelFont, TextAnchor.Middle, Frame.Ink, cssClass: "column-label");
            }
        }

        doc.Text(left + (gridSize / 2), height - 10, "predicted class", Frame.AxisTitleFont, TextAnchor.Middle, Frame.Ink, cssClass: "axis-title");
        doc.Text(10 + Frame.AxisTitleFont, top + (gridSize / 2), "true class", Frame.AxisTitleFont, TextAnchor.Middle, Frame.Ink, rotate: -90, cssClass: "axis-title");
        doc.EndGroup();
        return doc;
    }

    // [min, max] widened by margin·(max − min) on each side (by 20% of |min|, or 1, when min = max), and to at least
    // minimumSpan (≥ Axis.MinimumSpan), so the classifier's grid covers exactly the axis drawn (Axis.Linear would widen a narrower range).
    private static (double Low, double High) Padded(double min, double max, double margin, double minimumSpan)
    {
        var span = max - min;
        var (low, high) = span == 0
            ? (min == 0 ? (-1.0, 1.0) : (min - (Math.Abs(min) * 0.2), max + (Math.Abs(min) * 0.2)))
            : (min - (margin * span), max + (margin * span));
        return Axis.AtLeast(low, high, minimumSpan);
    }

    private static string Capitalize(string text) =>
        text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    private static string Invariant(double value) => value.ToString(CultureInfo.InvariantCulture);
}
