using System.Globalization;
using System.Text.Json;

namespace DeepLearning;

/// <summary>
/// What an objective reports for one trial: the dev-set metric the search ranks by (e.g. dev
/// accuracy, or dev cost J with <see cref="MetricGoal.Minimize"/>), the training-set metric for
/// judging bias and variance, the epochs actually run (after early stopping), and optional extras.
/// The runner measures the seconds itself.
/// </summary>
/// <param name="DevMetric">The dev-set metric; must be finite, or the trial is recorded as failed.</param>
public sealed record TrialOutcome(double DevMetric)
{
    /// <summary>The training-set metric in the same units as <see cref="DevMetric"/>; NaN when not reported.</summary>
    public double TrainMetric { get; init; } = double.NaN;

    /// <summary>Epochs run, e.g. where early stopping stopped; 0 when not reported.</summary>
    public int Epochs { get; init; }

    /// <summary>Further named figures (test accuracy, final cost, …), shown as extra columns.</summary>
    public IReadOnlyDictionary<string, double> Extras { get; init; } = new Dictionary<string, double>();

    /// <summary>
    /// The most values <see cref="DevMetricPerEpoch"/> may hold: 1,000,000 (a million epochs), so that a curve read
    /// from a shared storage or a saved search result cannot ask for unbounded memory.
    /// </summary>
    public const int MaxDevMetricPerEpochCount = 1_000_000;

    /// <summary>
    /// The dev metric after each epoch (e.g. <c>history.Select(e =&gt; e.ValidationAccuracy)</c>), for learning
    /// curves in a study's report; empty when not reported. Stored with the trial by a study storage and written by
    /// <see cref="SearchResult.ToJson"/>. Values may be NaN or ±∞ (an epoch that diverged); they round-trip.
    /// </summary>
    /// <exception cref="ArgumentNullException">Set to null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">More than <see cref="MaxDevMetricPerEpochCount"/> values.</exception>
    public IReadOnlyList<double> DevMetricPerEpoch
    {
        get;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Count > MaxDevMetricPerEpochCount)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value.Count, $"DevMetricPerEpoch holds at most {MaxDevMetricPerEpochCount} values; received {value.Count}");
            }

            field = value;
        }
    } = [];

    /// <summary>
    /// Anything the caller wants back from the trial, typically the trained model, e.g. to ensemble
    /// the top trials without retraining them. Kept in memory only: never written to JSON or CSV,
    /// and every kept artifact stays alive as long as the result does.
    /// </summary>
    public object? Artifact { get; init; }

    /// <summary>
    /// This outcome as JSON (the <see cref="Artifact"/> is left out):
    /// <c>{"devMetric":0.97,"trainMetric":0.99,"epochs":12,"extras":{"testAccuracy":0.96},"devMetricPerEpoch":[0.8,0.9]}</c>.
    /// NaN is written as null and ±∞ as the strings "Infinity"/"-Infinity", so every value round-trips.
    /// </summary>
    public string ToJson() => Json.Write(w => Write(w, this));

    /// <summary>
    /// Reads an outcome written by <see cref="ToJson"/>: every value as written, NaN and ±∞ included. Text without
    /// "devMetricPerEpoch" (written before it existed) reads with an empty curve.
    /// </summary>
    /// <exception cref="FormatException">
    /// The text is not a valid outcome, e.g. a metric, extra or per-epoch value that is not a number, null or ±Infinity,
    /// a number beyond the range of a double (1e400 is refused, not read as ∞: ±∞ is written as a string), "epochs"
    /// that is negative or not a whole number of 32 bits, or more than <see cref="MaxDevMetricPerEpochCount"/> per-epoch
    /// values; the message names the field and the value found.
    /// </exception>
    public static TrialOutcome FromJson(string json) => Json.Read(json, "trial outcome", e =>
    {
        Json.Expect(e, JsonValueKind.Object, "trial outcome");
        return Read(e);
    });

    // The JSON object of ToJson; SearchResult writes each row's outcome with it.
    internal static void Write(Utf8JsonWriter w, TrialOutcome o)
    {
        w.WriteStartObject();
        Json.WriteNullableNumber(w, "devMetric", o.DevMetric);
        Json.WriteNullableNumber(w, "trainMetric", o.TrainMetric);
        w.WriteNumber("epochs", o.Epochs);
        w.WriteStartObject("extras");
        foreach (var (k, v) in o.Extras)
        {
            Json.WriteNullableNumber(w, k, v);
        }

        w.WriteEndObject();
        w.WriteStartArray("devMetricPerEpoch");
        foreach (double v in o.DevMetricPerEpoch)
        {
            if (double.IsFinite(v))
            {
                w.WriteNumberValue(v);
            }
            else if (double.IsNaN(v))
            {
                w.WriteNullValue();
            }
            else
            {
                w.WriteStringValue(v > 0 ? "Infinity" : "-Infinity");
            }
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    // Reads the object Write wrote (e is a JSON object); SearchResult reads each row's outcome with it.
    internal static TrialOutcome Read(JsonElement e)
    {
        var extras = new Dictionary<string, double>();
        if (e.TryGetProperty("extras", out var x) && x.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in x.EnumerateObject())
            {
                extras[p.Name] = Json.ReadNullableNumber(x, p.Name);
            }
        }

        return new TrialOutcome(Json.ReadNullableNumber(e, "devMetric"))
        {
            TrainMetric = Json.ReadNullableNumber(e, "trainMetric"),
            Epochs = e.TryGetProperty("epochs", out var ep) ? ReadEpochs(ep) : 0,
            Extras = extras,
            DevMetricPerEpoch = ReadCurve(e),
        };
    }

    // "epochs": a whole number ≥ 0 of 32 bits (a count of epochs; a tampered row's -7 was read as is).
    private static int ReadEpochs(JsonElement ep)
    {
        int epochs = Json.ReadInt32(ep, "epochs");
        return epochs >= 0 ? epochs : throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"\"epochs\" must be ≥ 0; found {epochs}"));
    }

    // "devMetricPerEpoch": absent or null (older text) is empty; otherwise an array of at most
    // MaxDevMetricPerEpochCount numbers, nulls (NaN) and "Infinity"/"-Infinity" strings.
    private static List<double> ReadCurve(JsonElement e)
    {
        const string Name = "devMetricPerEpoch";
        if (!e.TryGetProperty(Name, out var c) || c.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        Json.Expect(c, JsonValueKind.Array, $"\"{Name}\"");
        int count = c.GetArrayLength();
        if (count > MaxDevMetricPerEpochCount)
        {
            throw new FormatException($"\"{Name}\" holds {count} values; at most {MaxDevMetricPerEpochCount} are allowed");
        }

        var curve = new List<double>(count);
        int i = 0;
        foreach (var v in c.EnumerateArray())
        {
            curve.Add(v.ValueKind switch
            {
                JsonValueKind.Number => v.TryGetDouble(out double d) && double.IsFinite(d)
                    ? d
                    : throw new FormatException($"\"{Name}\" holds {v.GetRawText()} at index {i}, beyond the range of a double"),
                JsonValueKind.Null => double.NaN,
                JsonValueKind.String => v.GetString() switch
                {
                    "Infinity" => double.PositiveInfinity,
                    "-Infinity" => double.NegativeInfinity,
                    _ => throw new FormatException($"\"{Name}\" holds \"{v.GetString()}\" at index {i}; each value must be a number, null or ±Infinity"),
                },
                _ => throw new FormatException($"\"{Name}\" holds a JSON {v.ValueKind} at index {i}; each value must be a number, null or ±Infinity"),
            });
            i++;
        }

        return curve;
    }

    /// <summary>The <see cref="Artifact"/> as <typeparamref name="TArtifact"/> (e.g. the trained model), or null if there is none or it has another type.</summary>
    public TArtifact? GetArtifact<TArtifact>()
        where TArtifact : class => Artifact as TArtifact;
}

/// <summary>Whether a larger or a smaller dev metric is better.</summary>
public enum MetricGoal
{
    /// <summary>Larger is better (accuracy, F1).</summary>
    Maximize,

    /// <summary>Smaller is better (cost, error rate).</summary>
    Minimize,
}

/// <summary>How a trial ended.</summary>
public enum TrialStatus
{
    /// <summary>The objective returned a finite dev metric.</summary>
    Succeeded,

    /// <summary>The objective threw, returned null or a non-finite dev metric; see <see cref="TrialResult.Error"/>.</summary>
    Failed,

    /// <summary>The objective was stopped by cancellation or the time budget (it threw <see cref="OperationCanceledException"/>).</summary>
    Cancelled,
}

/// <summary>Why a search stopped.</summary>
public enum StopReason
{
    /// <summary>Every planned trial ran.</summary>
    Completed,

    /// <summary>The wall-clock budget ran out before every planned trial had started or finished.</summary>
    TimeBudget,

    /// <summary>The caller's cancellation token fired.</summary>
    Cancelled,

    /// <summary>
    /// A study worker (<see cref="Tuner.RunWorker"/>) ran its <see cref="WorkerOptions.MaxTrials"/> trials and stopped
    /// before it saw the study finished; other workers may still be running the rest (<see cref="Tuner.LoadStudy"/> tells).
    /// </summary>
    TrialLimit,
}

/// <summary>One row of a <see cref="SearchResult"/>: a trial, how it ended, and what it measured.</summary>
public sealed class TrialResult
{
    /// <summary>Creates a row; <paramref name="outcome"/> is required when <paramref name="status"/> is <see cref="TrialStatus.Succeeded"/>.</summary>
    public TrialResult(TrialConfig config, TrialStatus status, TrialOutcome? outcome, double seconds, string? error = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (status == TrialStatus.Succeeded && (outcome is null || !double.IsFinite(outcome.DevMetric)))
        {
            throw new ArgumentException($"a succeeded trial needs an outcome with a finite dev metric; received {outcome?.DevMetric.ToString() ?? "none"}", nameof(outcome));
        }

        if (!(seconds >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(seconds), seconds, $"seconds must be ≥ 0; received {seconds}");
        }

        Config = config;
        Status = status;
        Outcome = outcome;
        Seconds = seconds;
        Error = error;
    }

    /// <summary>The trial that ran.</summary>
    public TrialConfig Config { get; }

    /// <summary>How it ended.</summary>
    public TrialStatus Status { get; }

    /// <summary>What the objective returned; null when it failed or was cancelled without returning.</summary>
    public TrialOutcome? Outcome { get; }

    /// <summary>Wall-clock seconds the objective took.</summary>
    public double Seconds { get; }

    /// <summary>
    /// For a failed or cancelled trial: the exception type and message, as a study storage records it (each NUL and lone
    /// surrogate replaced by U+FFFD, cut to 4,000 characters with a marker giving the full length).
    /// </summary>
    public string? Error { get; }

    /// <summary>Shortcut for <see cref="TrialConfig.Id"/>.</summary>
    public int Id => Config.Id;

    /// <summary>Shortcut for <see cref="TrialConfig.Round"/>.</summary>
    public int Round => Config.Round;

    /// <summary>True when the trial succeeded.</summary>
    public bool Succeeded => Status == TrialStatus.Succeeded;

    /// <summary>The dev metric; NaN without an outcome.</summary>
    public double DevMetric => Outcome?.DevMetric ?? double.NaN;

    /// <summary>The training metric; NaN without one.</summary>
    public double TrainMetric => Outcome?.TrainMetric ?? double.NaN;

    /// <summary>Epochs run; 0 without an outcome.</summary>
    public int Epochs => Outcome?.Epochs ?? 0;

    /// <inheritdoc/>
    public override string ToString() => Succeeded
        ? string.Create(CultureInfo.InvariantCulture, $"{Config}: dev {DevMetric:G6}, train {TrainMetric:G6}, {Epochs} epochs, {Seconds:F2} s")
        : $"{Config}: {Status.ToString().ToLowerInvariant()} — {Error}";
}
