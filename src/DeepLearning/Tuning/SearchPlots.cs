using System.Globalization;

namespace DeepLearning;

/// <summary>
/// Plots of a search's table (one process, or a stored study via <see cref="Tuner.LoadStudy(IStudyStorage, string)"/>), as SVG:
/// the best dev metric so far against the trial number, and the dev metric against each hyperparameter on
/// that hyperparameter's own scale (log axis for log-uniform ones, 1 − β on a log axis for
/// <see cref="OneMinusLogUniformDimension"/>).
/// </summary>
public static class SearchPlots
{
    /// <summary>
    /// Each succeeded trial's dev metric (dots) and the best so far (a step line) against the trial id, in id order:
    /// for <see cref="MetricGoal.Maximize"/> best_k = max over trials i ≤ k, for Minimize the min.
    /// </summary>
    /// <param name="result">The search's table.</param>
    /// <param name="metricName">What the dev metric is, for the axis title (e.g. "dev accuracy").</param>
    /// <exception cref="InvalidOperationException">No trial succeeded.</exception>
    public static SvgDocument BestSoFar(SearchResult result, string metricName = "dev metric")
    {
        ArgumentNullException.ThrowIfNull(result);
        var ok = Succeeded(result);
        var ids = ok.Select(t => (double)t.Id).ToArray();
        var dev = ok.Select(t => t.DevMetric).ToArray();
        var best = BestSoFarValues(dev, result.Goal);
        return new LineChart($"Best {metricName} so far", "trial", metricName)
            .AddScatter("trial", ids, dev, Palette.Color(1))
            .Add("best so far", ids, best, Palette.Color(0))
            .ToSvg();
    }

    /// <summary>The running best of <paramref name="values"/>: max (or min for <see cref="MetricGoal.Minimize"/>) of values[0..k].</summary>
    public static double[] BestSoFarValues(IReadOnlyList<double> values, MetricGoal goal)
    {
        ArgumentNullException.ThrowIfNull(values);
        var best = new double[values.Count];
        for (int k = 0; k < best.Length; k++)
        {
            best[k] = k == 0 ? values[0]
                : goal == MetricGoal.Maximize ? Math.Max(best[k - 1], values[k]) : Math.Min(best[k - 1], values[k]);
        }

        return best;
    }

    /// <summary>
    /// Each succeeded trial's dev metric against its value of <paramref name="dimension"/>, on the dimension's own scale:
    /// a log₁₀ axis for <see cref="LogUniformDimension"/>, 1 − x on a log₁₀ axis for <see cref="OneMinusLogUniformDimension"/>,
    /// a linear axis otherwise; a text choice is drawn at its index in the choice list (named in the axis title).
    /// </summary>
    /// <param name="result">The search's table.</param>
    /// <param name="dimension">The hyperparameter (a dimension of the search space).</param>
    /// <param name="metricName">What the dev metric is, for the axis title.</param>
    /// <exception cref="InvalidOperationException">No succeeded trial has a value for the dimension.</exception>
    public static SvgDocument MetricVersus(SearchResult result, Dimension dimension, string metricName = "dev metric")
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(dimension);
        var ok = Succeeded(result).Where(t => t.Config.Hyperparameters.ContainsKey(dimension.Name)).ToList();
        if (ok.Count == 0)
        {
            throw new InvalidOperationException($"no succeeded trial has a value for '{dimension.Name}'");
        }

        string xLabel = dimension.Name;
        bool logX = false;
        Func<HyperparameterValue, double> x = v => v.AsDouble();
        switch (dimension)
        {
            case LogUniformDimension:
                logX = true;
                xLabel += " (log scale)";
                break;
            case OneMinusLogUniformDimension:
                logX = true;
                xLabel = $"1 − {dimension.Name} (log scale)";
                x = v => 1 - v.AsDouble();
                break;
            case ChoiceDimension choice when choice.Values.Any(v => !v.IsNumeric):
                x = v => choice.Values.ToList().IndexOf(v);
                xLabel += " (" + string.Join(", ", choice.Values.Select((v, i) => i.ToString(CultureInfo.InvariantCulture) + " = " + v.Format(4))) + ")";
                break;
        }

        var xs = ok.Select(t => x(t.Config[dimension.Name])).ToArray();
        var ys = ok.Select(t => t.DevMetric).ToArray();
        var chart = new LineChart($"{metricName} against {dimension.Name}", xLabel, metricName) { LogX = logX, ShowLegend = false };
        foreach (var round in ok.Select(t => t.Round).Distinct().Order())
        {
            var idx = Enumerable.Range(0, ok.Count).Where(i => ok[i].Round == round).ToArray();
            chart.AddScatter($"round {round}", idx.Select(i => xs[i]).ToArray(), idx.Select(i => ys[i]).ToArray(), Palette.Color(round));
        }

        chart.ShowLegend = ok.Select(t => t.Round).Distinct().Count() > 1;
        return chart.ToSvg();
    }

    /// <summary>
    /// Writes <c>best-so-far.svg</c> and one <c>dev-vs-&lt;name&gt;.svg</c> per dimension of <paramref name="space"/> into
    /// <paramref name="folder"/> (created if needed; each file written atomically). Returns the paths written, one per
    /// plot: best-so-far first, then the dimensions in the space's order.
    /// </summary>
    /// <remarks>
    /// &lt;name&gt; is the dimension's name with every character other than a letter, digit, '-' or '_' replaced by '_'.
    /// When that repeats an earlier dimension's file name ignoring case (e.g. "learning rate" and "learning_rate", or
    /// "LR" and "lr", which are one file on Windows and macOS), the later dimension gets the first free suffix
    /// <c>-2</c>, <c>-3</c>, … (<c>dev-vs-learning_rate-2.svg</c>), so no plot overwrites another and the names depend
    /// only on the space.
    /// </remarks>
    public static IReadOnlyList<string> SaveReport(SearchResult result, SearchSpace space, string folder, string metricName = "dev metric")
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(space);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        void Save(string name, SvgDocument doc)
        {
            string path = Path.Combine(folder, name);
            doc.Save(path);
            written.Add(path);
        }

        Save("best-so-far.svg", BestSoFar(result, metricName));
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var d in space)
        {
            string safe = string.Concat(d.Name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
            string name = safe;
            for (int k = 2; !used.Add(name); k++)
            {
                name = string.Create(CultureInfo.InvariantCulture, $"{safe}-{k}");
            }

            Save($"dev-vs-{name}.svg", MetricVersus(result, d, metricName));
        }

        return written;
    }

    private static List<TrialResult> Succeeded(SearchResult result)
    {
        var ok = result.Trials.Where(t => t.Succeeded).OrderBy(t => t.Id).ToList();
        return ok.Count > 0 ? ok : throw new InvalidOperationException($"no trial of the search succeeded ({result.Trials.Count} ran); nothing to plot");
    }
}
