using System.Globalization;
using System.Text;
using System.Text.Json;

namespace DeepLearning;

/// <summary>
/// The table of a search: one row per trial that ran, sorted best-first (succeeded trials by dev
/// metric, ties by id; then failed and cancelled ones by id). Printable as an aligned table,
/// exportable to CSV, savable as JSON, and mergeable with results run elsewhere.
/// </summary>
public sealed class SearchResult
{
    private readonly List<TrialResult> _trials;

    /// <summary>Creates a table from rows in any order; they are ranked by <paramref name="goal"/>.</summary>
    /// <param name="trials">The rows.</param>
    /// <param name="goal">Whether larger or smaller dev metrics are better.</param>
    /// <param name="stopReason">Why the search stopped.</param>
    /// <param name="elapsed">Wall-clock time of the whole search.</param>
    /// <param name="skippedTrials">Planned trials that never started (budget or cancellation).</param>
    public SearchResult(IEnumerable<TrialResult> trials, MetricGoal goal = MetricGoal.Maximize, StopReason stopReason = StopReason.Completed, TimeSpan elapsed = default, int skippedTrials = 0)
    {
        ArgumentNullException.ThrowIfNull(trials);
        var list = trials.ToList();
        if (list.Exists(t => t is null))
        {
            throw new ArgumentException("a search result cannot hold a null trial", nameof(trials));
        }

        if (skippedTrials < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(skippedTrials), skippedTrials, $"skippedTrials must be ≥ 0; received {skippedTrials}");
        }

        _trials = Rank(list, goal);
        Goal = goal;
        StopReason = stopReason;
        Elapsed = elapsed;
        SkippedTrials = skippedTrials;
    }

    /// <summary>Every trial that ran, best first.</summary>
    public IReadOnlyList<TrialResult> Trials => _trials;

    /// <summary>The succeeded trials, best first.</summary>
    public IReadOnlyList<TrialResult> Succeeded => _trials.Where(t => t.Succeeded).ToList();

    /// <summary>The failed and cancelled trials, by id.</summary>
    public IReadOnlyList<TrialResult> Unsuccessful => _trials.Where(t => !t.Succeeded).ToList();

    /// <summary>Whether larger or smaller dev metrics are better.</summary>
    public MetricGoal Goal { get; }

    /// <summary>Why the search stopped.</summary>
    public StopReason StopReason { get; }

    /// <summary>Wall-clock time of the search.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Planned trials that never started.</summary>
    public int SkippedTrials { get; }

    /// <summary>The best succeeded trial.</summary>
    /// <exception cref="InvalidOperationException">No trial succeeded; the message gives the first failure.</exception>
    public TrialResult Best => _trials.Count > 0 && _trials[0].Succeeded
        ? _trials[0]
        : throw new InvalidOperationException(_trials.Count == 0
            ? "the search ran no trials"
            : $"none of the {_trials.Count} trials succeeded; trial {_trials[0].Id}: {_trials[0].Error}");

    /// <summary>The <paramref name="k"/> best succeeded trials (fewer if fewer succeeded).</summary>
    public IReadOnlyList<TrialResult> Top(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        return _trials.Where(t => t.Succeeded).Take(k).ToList();
    }

    /// <summary>
    /// One table of the rows of several searches (e.g. run on different machines). Goals must
    /// agree. A row whose trial (id, round, seed and hyperparameters) already appeared is dropped,
    /// keeping a succeeded copy over a failed one. The stop reason is the first that is not
    /// <see cref="StopReason.Completed"/>; elapsed is the longest; skipped counts add up.
    /// </summary>
    public static SearchResult Merge(params SearchResult[] results)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (results.Length == 0)
        {
            throw new ArgumentException("Merge needs at least one search result; received none", nameof(results));
        }

        if (Array.Exists(results, r => r is null))
        {
            throw new ArgumentException("Merge received a null search result", nameof(results));
        }

        var goal = results[0].Goal;
        var other = Array.Find(results, r => r.Goal != goal);
        if (other is not null)
        {
            throw new ArgumentException($"cannot merge searches with different goals: {goal} and {other.Goal}", nameof(results));
        }

        var kept = new Dictionary<TrialConfig, TrialResult>();
        var order = new List<TrialConfig>();
        foreach (var row in results.SelectMany(r => r._trials))
        {
            if (!kept.TryGetValue(row.Config, out var existing))
            {
                kept[row.Config] = row;
                order.Add(row.Config);
            }
            else if (!existing.Succeeded && row.Succeeded)
            {
                kept[row.Config] = row;
            }
        }

        var stop = results.Select(r => r.StopReason).FirstOrDefault(s => s != StopReason.Completed, StopReason.Completed);
        return new SearchResult(order.Select(c => kept[c]), goal, stop, results.Max(r => r.Elapsed), results.Sum(r => r.SkippedTrials));
    }

    /// <summary>This table merged with <paramref name="other"/>; see <see cref="Merge(SearchResult[])"/>.</summary>
    public SearchResult Merge(SearchResult other) => Merge(this, other);

    internal static List<TrialResult> Rank(IEnumerable<TrialResult> rows, MetricGoal goal)
    {
        var list = rows.ToList();
        list.Sort((a, b) =>
        {
            if (a.Succeeded != b.Succeeded)
            {
                return a.Succeeded ? -1 : 1;
            }

            int c = 0;
            if (a.Succeeded)
            {
                c = goal == MetricGoal.Maximize ? b.DevMetric.CompareTo(a.DevMetric) : a.DevMetric.CompareTo(b.DevMetric);
            }

            if (c == 0)
            {
                c = a.Id.CompareTo(b.Id);
            }

            if (c == 0)
            {
                c = a.Round.CompareTo(b.Round);
            }

            return c != 0 ? c : a.Config.Seed.CompareTo(b.Config.Seed);
        });
        return list;
    }

    private List<string> HyperparameterNames() =>
        _trials.SelectMany(t => t.Config.Hyperparameters.Keys).Distinct(StringComparer.Ordinal).ToList();

    private List<string> ExtraNames() =>
        _trials.Where(t => t.Outcome is not null).SelectMany(t => t.Outcome!.Extras.Keys).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>
    /// An aligned text table, best first: rank, id, round, one column per hyperparameter, dev and
    /// train metric, epochs, seconds, extras, and the status (with the error of a failed trial).
    /// </summary>
    /// <param name="maxRows">Show at most this many rows (null for all).</param>
    /// <param name="includeSeconds">Include the seconds column (leave it out to compare tables across runs).</param>
    public string ToTable(int? maxRows = null, bool includeSeconds = true)
    {
        if (maxRows is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxRows), maxRows, $"maxRows must be ≥ 0; received {maxRows}");
        }

        var names = HyperparameterNames();
        var extras = ExtraNames();
        var header = new List<string> { "rank", "id", "round" };
        header.AddRange(names);
        header.AddRange(["dev", "train", "epochs"]);
        if (includeSeconds)
        {
            header.Add("seconds");
        }

        header.AddRange(extras);
        header.Add("status");

        var rows = new List<string[]>();
        foreach (var (t, i) in _trials.Take(maxRows ?? int.MaxValue).Select((t, i) => (t, i)))
        {
            var cells = new List<string> { t.Succeeded ? (i + 1).ToString(CultureInfo.InvariantCulture) : "-", Inv(t.Id), Inv(t.Round) };
            cells.AddRange(names.Select(n => t.Config.Hyperparameters.TryGetValue(n, out var v) ? v.Format(4) : ""));
            cells.Add(Metric(t.DevMetric));
            cells.Add(Metric(t.TrainMetric));
            cells.Add(t.Outcome is null ? "" : Inv(t.Epochs));
            if (includeSeconds)
            {
                cells.Add(t.Seconds.ToString("F2", CultureInfo.InvariantCulture));
            }

            cells.AddRange(extras.Select(n => t.Outcome is not null && t.Outcome.Extras.TryGetValue(n, out double x) ? Metric(x) : ""));
            cells.Add(t.Status switch
            {
                TrialStatus.Succeeded => "ok",
                TrialStatus.Failed => "failed: " + Truncate(t.Error, 60),
                _ => "cancelled",
            });
            rows.Add([.. cells]);
        }

        int columns = header.Count;
        var widths = new int[columns];
        for (int c = 0; c < columns; c++)
        {
            widths[c] = Math.Max(header[c].Length, rows.Count == 0 ? 0 : rows.Max(r => r[c].Length));
        }

        var numeric = new bool[columns];
        for (int c = 0; c < columns - 1; c++)
        {
            numeric[c] = rows.TrueForAll(r => IsNumberCell(r[c]));
        }

        var sb = new StringBuilder();
        void Line(IReadOnlyList<string> cells)
        {
            for (int c = 0; c < columns; c++)
            {
                bool last = c == columns - 1;
                string cell = numeric[c] ? cells[c].PadLeft(widths[c]) : (last ? cells[c] : cells[c].PadRight(widths[c]));
                sb.Append(cell);
                if (!last)
                {
                    sb.Append("  ");
                }
            }

            // Keep the right edge clean when the last column is empty.
            while (sb.Length > 0 && sb[^1] == ' ')
            {
                sb.Length--;
            }

            sb.Append('\n');
        }

        Line(header);
        foreach (var r in rows)
        {
            Line(r);
        }

        if (_trials.Count > rows.Count)
        {
            sb.Append(CultureInfo.InvariantCulture, $"… {_trials.Count - rows.Count} more rows\n");
        }

        return sb.ToString();
    }

    /// <summary>The full table (<see cref="ToTable"/>) followed by a one-line summary.</summary>
    public override string ToString()
    {
        int ok = _trials.Count(t => t.Succeeded);
        return ToTable() + string.Create(CultureInfo.InvariantCulture, $"{_trials.Count} trials ({ok} succeeded, {_trials.Count - ok} failed or cancelled, {SkippedTrials} not started), {Goal.ToString().ToLowerInvariant()} dev metric, stopped: {StopReason}, {Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>
    /// The table as CSV (RFC 4180, invariant culture, exact round-trip numbers), best first:
    /// <c>rank,id,round,seed,&lt;hyperparameters&gt;,dev_metric,train_metric,epochs,seconds,&lt;extras&gt;,status,error</c>.
    /// </summary>
    public string ToCsv()
    {
        var names = HyperparameterNames();
        var extras = ExtraNames();
        var sb = new StringBuilder();
        var header = new List<string> { "rank", "id", "round", "seed" };
        header.AddRange(names);
        header.AddRange(["dev_metric", "train_metric", "epochs", "seconds"]);
        header.AddRange(extras);
        header.AddRange(["status", "error"]);
        sb.AppendJoin(',', header.Select(Csv)).Append('\n');
        int rank = 0;
        foreach (var t in _trials)
        {
            var cells = new List<string>
            {
                t.Succeeded ? Inv(++rank) : "",
                Inv(t.Id),
                Inv(t.Round),
                t.Config.Seed.ToString(CultureInfo.InvariantCulture),
            };
            cells.AddRange(names.Select(n => t.Config.Hyperparameters.TryGetValue(n, out var v) ? v.ToString() : ""));
            cells.Add(Exact(t.DevMetric));
            cells.Add(Exact(t.TrainMetric));
            cells.Add(t.Outcome is null ? "" : Inv(t.Epochs));
            cells.Add(Exact(t.Seconds));
            cells.AddRange(extras.Select(n => t.Outcome is not null && t.Outcome.Extras.TryGetValue(n, out double x) ? Exact(x) : ""));
            cells.Add(t.Status.ToString().ToLowerInvariant());
            cells.Add(t.Error ?? "");
            sb.AppendJoin(',', cells.Select(Csv)).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>Writes <see cref="ToCsv"/> to <paramref name="path"/> atomically (temporary file, flush, rename).</summary>
    public void SaveCsv(string path) => AtomicFile.WriteAllText(path, ToCsv());

    /// <summary>
    /// The whole result as JSON (goal, stop reason, elapsed, skipped count, and every row with its
    /// trial in <see cref="TrialConfig.ToJson()"/> form and its outcome in <see cref="TrialOutcome.ToJson"/> form, the
    /// per-epoch dev metrics included), for <see cref="FromJson"/> and <see cref="Merge(SearchResult[])"/>.
    /// </summary>
    public string ToJson() => Json.Write(w =>
    {
        w.WriteStartObject();
        w.WriteString("goal", Goal.ToString().ToLowerInvariant());
        w.WriteString("stopReason", StopReason.ToString());
        w.WriteNumber("elapsedSeconds", Elapsed.TotalSeconds);
        w.WriteNumber("skippedTrials", SkippedTrials);
        w.WriteStartArray("trials");
        foreach (var t in _trials)
        {
            w.WriteStartObject();
            w.WritePropertyName("config");
            TrialConfig.Write(w, t.Config);
            w.WriteString("status", t.Status.ToString().ToLowerInvariant());
            w.WriteNumber("seconds", t.Seconds);
            if (t.Error is not null)
            {
                w.WriteString("error", t.Error);
            }

            if (t.Outcome is { } o)
            {
                w.WritePropertyName("outcome");
                TrialOutcome.Write(w, o);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary>
    /// Reads a result written by <see cref="ToJson"/>, outcomes as <see cref="TrialOutcome.FromJson"/> reads them; a
    /// result saved before outcomes carried "devMetricPerEpoch" reads with empty curves.
    /// </summary>
    /// <exception cref="FormatException">
    /// The text is not a valid search result (including an outcome <see cref="TrialOutcome.FromJson"/> would refuse,
    /// e.g. a per-epoch value that is not a number, null or ±Infinity, or more than
    /// <see cref="TrialOutcome.MaxDevMetricPerEpochCount"/> of them).
    /// </exception>
    public static SearchResult FromJson(string json) => Json.Read(json, "search result", e =>
    {
        Json.Expect(e, JsonValueKind.Object, "search result");
        var goal = ParseEnum<MetricGoal>(Json.Property(e, "goal", "search result").GetString(), "goal");
        var stop = ParseEnum<StopReason>(Json.Property(e, "stopReason", "search result").GetString(), "stopReason");
        double elapsed = Json.ReadDouble(Json.Property(e, "elapsedSeconds", "search result"), "elapsedSeconds");
        FormatException BadElapsed() => new(string.Create(CultureInfo.InvariantCulture, $"\"elapsedSeconds\" must be ≥ 0 and fit a TimeSpan (below {TimeSpan.MaxValue.TotalSeconds:R}); found {elapsed:R}"));
        if (!(elapsed >= 0))
        {
            throw BadElapsed();
        }

        TimeSpan elapsedSpan;
        try
        {
            elapsedSpan = TimeSpan.FromSeconds(elapsed);
        }
        catch (OverflowException)
        {
            throw BadElapsed();
        }

        int skipped = Json.ReadInt32(Json.Property(e, "skippedTrials", "search result"), "skippedTrials");
        var trials = Json.Property(e, "trials", "search result");
        Json.Expect(trials, JsonValueKind.Array, "trials");
        var rows = trials.EnumerateArray().Select(r =>
        {
            Json.Expect(r, JsonValueKind.Object, "trial row");
            var config = TrialConfig.Read(Json.Property(r, "config", "trial row"));
            var status = ParseEnum<TrialStatus>(Json.Property(r, "status", "trial row").GetString(), "status");
            double seconds = Json.ReadDouble(Json.Property(r, "seconds", "trial row"), "seconds");
            string? error = r.TryGetProperty("error", out var err) && err.ValueKind == JsonValueKind.String ? err.GetString() : null;
            TrialOutcome? outcome = null;
            if (r.TryGetProperty("outcome", out var o) && o.ValueKind == JsonValueKind.Object)
            {
                outcome = TrialOutcome.Read(o);
            }

            return new TrialResult(config, status, outcome, seconds, error);
        }).ToList();
        return new SearchResult(rows, goal, stop, elapsedSpan, skipped);
    });

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    /// <summary>Reads a result saved with <see cref="Save"/>.</summary>
    public static SearchResult Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return FromJson(File.ReadAllText(path, Encoding.UTF8));
    }

    private static TEnum ParseEnum<TEnum>(string? text, string what)
        where TEnum : struct, Enum =>
        Enum.TryParse<TEnum>(text, ignoreCase: true, out var v) && Enum.IsDefined(v)
            ? v
            : throw new FormatException($"\"{what}\" must be one of [{string.Join(", ", Enum.GetNames<TEnum>())}]; found \"{text}\"");

    private static string Inv(int v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Metric(double v) => double.IsNaN(v) ? "" : v.ToString("G5", CultureInfo.InvariantCulture);

    private static string Exact(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);

    private static bool IsNumberCell(string s) => s.Length == 0 || s == "-" || double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static string Truncate(string? s, int max)
    {
        s = (s ?? "").ReplaceLineEndings(" ");
        return s.Length <= max ? s : string.Concat(s.AsSpan(0, max - 1), "…");
    }

    private static string Csv(string s) =>
        s.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;
}
