using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DeepLearning;

/// <summary>
/// One trial described as data: an id, the coarse-to-fine round it belongs to, the seed its model
/// must use for every random choice, and the sampled hyperparameters (name → value, in the search
/// space's order). Serializable to JSON, so a list of trials can be run on another machine and the
/// results merged with <see cref="SearchResult.Merge(SearchResult[])"/>.
/// </summary>
/// <remarks>
/// JSON form: <c>{"id":3,"round":0,"seed":123,"hyperparameters":{"learningRate":0.0031,"hidden":73,"activation":"relu"}}</c>.
/// Reals are always written with a decimal point or an exponent (1 → <c>1.0</c>) so they read back as reals;
/// integers are written without, and text as JSON strings.
/// </remarks>
[JsonConverter(typeof(TrialConfigJsonConverter))]
public sealed class TrialConfig : IEquatable<TrialConfig>
{
    private readonly OrderedDictionary<string, HyperparameterValue> _values;

    /// <summary>Creates a trial from its id, round, seed and hyperparameters (names must be distinct and non-empty).</summary>
    public TrialConfig(int id, int round, ulong seed, IEnumerable<KeyValuePair<string, HyperparameterValue>> hyperparameters)
    {
        ArgumentNullException.ThrowIfNull(hyperparameters);
        if (id < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"a trial id must be ≥ 0; received {id}");
        }

        if (round < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(round), round, $"a trial round must be ≥ 0; received {round}");
        }

        Id = id;
        Round = round;
        Seed = seed;
        _values = new OrderedDictionary<string, HyperparameterValue>(StringComparer.Ordinal);
        foreach (var (name, value) in hyperparameters)
        {
            if (string.IsNullOrWhiteSpace(name))
            {
                throw new ArgumentException($"a hyperparameter name must be non-empty; received \"{name}\"", nameof(hyperparameters));
            }

            if (!_values.TryAdd(name, value))
            {
                throw new ArgumentException($"the hyperparameter '{name}' appears more than once", nameof(hyperparameters));
            }
        }
    }

    /// <summary>The trial's index in its search (unique within one search, across rounds).</summary>
    public int Id { get; }

    /// <summary>The coarse-to-fine round, from 0; always 0 for plain random or grid search.</summary>
    public int Round { get; }

    /// <summary>
    /// The seed for the trial's model (initialization, shuffling, dropout). It depends only on the
    /// search seed and <see cref="Id"/>, never on which thread runs the trial.
    /// </summary>
    public ulong Seed { get; }

    /// <summary>The hyperparameters, name → value, in the search space's order.</summary>
    public IReadOnlyDictionary<string, HyperparameterValue> Hyperparameters => _values;

    /// <summary>The value named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such hyperparameter; the message lists the ones there are.</exception>
    public HyperparameterValue this[string name]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(name);
            return _values.TryGetValue(name, out var v)
                ? v
                : throw new KeyNotFoundException($"trial {Id} has no hyperparameter '{name}'; it has [{string.Join(", ", _values.Keys)}]");
        }
    }

    /// <summary>A numeric hyperparameter as a double (integers convert).</summary>
    public double GetDouble(string name) => Convert(name, v => v.AsDouble());

    /// <summary>An integer hyperparameter.</summary>
    public int GetInt(string name) => Convert(name, v => v.AsInt());

    /// <summary>A text hyperparameter.</summary>
    public string GetString(string name) => Convert(name, v => v.AsString());

    private TResult Convert<TResult>(string name, Func<HyperparameterValue, TResult> convert)
    {
        var v = this[name];
        try
        {
            return convert(v);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"trial {Id}, hyperparameter '{name}': {e.Message}", e);
        }
    }

    /// <summary>e.g. <c>#3 (round 0, seed 123): learningRate=0.0031, hidden=73</c>.</summary>
    public override string ToString() =>
        $"#{Id} (round {Round}, seed {Seed}): {string.Join(", ", _values.Select(p => $"{p.Key}={p.Value.Format(4)}"))}";

    /// <summary>Same id, round, seed and hyperparameters (names, order, kinds and values).</summary>
    public bool Equals(TrialConfig? other) =>
        other is not null && Id == other.Id && Round == other.Round && Seed == other.Seed && SameHyperparameters(other);

    /// <summary>Same hyperparameters (names, order, kinds and values), whatever the id, round and seed.</summary>
    public bool SameHyperparameters(TrialConfig other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return _values.Count == other._values.Count && _values.SequenceEqual(other._values);
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TrialConfig t && Equals(t);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Id);
        h.Add(Round);
        h.Add(Seed);
        foreach (var (k, v) in _values)
        {
            h.Add(k);
            h.Add(v);
        }

        return h.ToHashCode();
    }

    /// <summary>This trial as a JSON object.</summary>
    public string ToJson() => Json.Write(w => Write(w, this));

    /// <summary>Reads a trial written by <see cref="ToJson()"/>.</summary>
    /// <exception cref="FormatException">The text is not a valid trial.</exception>
    public static TrialConfig FromJson(string json) => Json.Read(json, "trial", Read);

    /// <summary>Several trials as a JSON array, e.g. to hand a batch to another machine.</summary>
    public static string ToJson(IEnumerable<TrialConfig> trials)
    {
        ArgumentNullException.ThrowIfNull(trials);
        return Json.Write(w =>
        {
            w.WriteStartArray();
            foreach (var t in trials)
            {
                Write(w, t);
            }

            w.WriteEndArray();
        });
    }

    /// <summary>Reads a JSON array of trials written by <see cref="ToJson(IEnumerable{TrialConfig})"/>.</summary>
    /// <exception cref="FormatException">The text is not a valid array of trials.</exception>
    public static IReadOnlyList<TrialConfig> ListFromJson(string json) => Json.Read(json, "trial list", e =>
    {
        Json.Expect(e, JsonValueKind.Array, "trial list");
        return e.EnumerateArray().Select(Read).ToList();
    });

    internal static void Write(Utf8JsonWriter w, TrialConfig t)
    {
        w.WriteStartObject();
        w.WriteNumber("id", t.Id);
        w.WriteNumber("round", t.Round);
        w.WriteNumber("seed", t.Seed);
        w.WriteStartObject("hyperparameters");
        foreach (var (name, value) in t._values)
        {
            w.WritePropertyName(name);
            Json.WriteValue(w, value);
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    internal static TrialConfig Read(JsonElement e)
    {
        Json.Expect(e, JsonValueKind.Object, "trial");
        int id = Json.ReadInt32(Json.Property(e, "id", "trial"), "id");
        int round = Json.ReadInt32(Json.Property(e, "round", "trial"), "round");
        ulong seed = Json.ReadUInt64(Json.Property(e, "seed", "trial"), "seed");
        var hp = Json.Property(e, "hyperparameters", "trial");
        Json.Expect(hp, JsonValueKind.Object, "trial hyperparameters");
        var values = hp.EnumerateObject().Select(p => new KeyValuePair<string, HyperparameterValue>(p.Name, Json.ReadValue(p.Value, p.Name))).ToList();
        return new TrialConfig(id, round, seed, values);
    }
}

/// <summary>Lets <see cref="JsonSerializer"/> read and write <see cref="TrialConfig"/> in its documented form.</summary>
internal sealed class TrialConfigJsonConverter : JsonConverter<TrialConfig>
{
    public override TrialConfig Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var doc = JsonDocument.ParseValue(ref reader);
        try
        {
            return TrialConfig.Read(doc.RootElement);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or KeyNotFoundException or ArgumentException)
        {
            throw new JsonException($"not a valid trial: {e.Message}", e);
        }
    }

    public override void Write(Utf8JsonWriter writer, TrialConfig value, JsonSerializerOptions options) => TrialConfig.Write(writer, value);
}

/// <summary>Small JSON helpers shared by the tuning types: explicit, reflection-free reading and writing.</summary>
internal static class Json
{
    public static string Write(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false }))
        {
            write(w);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public static TResult Read<TResult>(string json, string what, Func<JsonElement, TResult> read)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var doc = JsonDocument.Parse(json);
            return read(doc.RootElement);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or ArgumentException)
        {
            throw new FormatException($"not a valid {what}: {e.Message}", e);
        }
    }

    public static void Expect(JsonElement e, JsonValueKind kind, string what)
    {
        if (e.ValueKind != kind)
        {
            throw new FormatException($"expected {what} to be a JSON {kind}; found {e.ValueKind}");
        }
    }

    public static JsonElement Property(JsonElement e, string name, string what) =>
        e.TryGetProperty(name, out var p) ? p : throw new FormatException($"the {what} has no \"{name}\" property");

    /// <summary>
    /// <paramref name="p"/>, the value of property <paramref name="name"/>, as an int: a JSON number written as a whole
    /// number of 32 bits (no fraction or exponent: 1e2 and 100.5 are refused); else a <see cref="FormatException"/>
    /// naming the property and the text found (GetInt32 threw one naming neither).
    /// </summary>
    public static int ReadInt32(JsonElement p, string name) =>
        p.ValueKind == JsonValueKind.Number && p.TryGetInt32(out int n)
            ? n
            : throw new FormatException($"\"{name}\" must be a whole number of 32 bits; found {Show(p)}");

    /// <summary>As <see cref="ReadInt32"/>, for a whole number in [0, 2^64 − 1] (a seed).</summary>
    public static ulong ReadUInt64(JsonElement p, string name) =>
        p.ValueKind == JsonValueKind.Number && p.TryGetUInt64(out ulong n)
            ? n
            : throw new FormatException($"\"{name}\" must be a whole number in [0, {ulong.MaxValue}]; found {Show(p)}");

    /// <summary>
    /// <paramref name="p"/>, the value of property <paramref name="name"/>, as a finite double: a JSON number within a
    /// double's range (1e400 is refused, never read as ∞); else a <see cref="FormatException"/> naming the property and
    /// the text found. (The writers never write a non-finite value as a number: NaN is null, ±∞ a string.)
    /// </summary>
    public static double ReadDouble(JsonElement p, string name)
    {
        if (p.ValueKind != JsonValueKind.Number)
        {
            throw new FormatException($"\"{name}\" must be a number; found {Show(p)}");
        }

        return p.TryGetDouble(out double d) && double.IsFinite(d)
            ? d
            : throw new FormatException($"\"{name}\" is {Show(p)}, beyond the range of a double");
    }

    /// <summary>A JSON value for a message: its text as written (a string with its quotes), cut to 100 characters.</summary>
    public static string Show(JsonElement p)
    {
        string raw = p.GetRawText();
        return raw.Length <= 100 ? raw : string.Create(CultureInfo.InvariantCulture, $"{raw[..100]}… ({raw.Length} characters)");
    }

    /// <summary>Reals always carry '.' or an exponent so that they read back as reals.</summary>
    public static void WriteValue(Utf8JsonWriter w, HyperparameterValue v)
    {
        switch (v.Kind)
        {
            case HyperparameterKind.Real:
                string s = v.AsDouble().ToString("R", CultureInfo.InvariantCulture);
                if (s.IndexOfAny(['.', 'E', 'e']) < 0)
                {
                    s += ".0";
                }

                w.WriteRawValue(s);
                break;
            case HyperparameterKind.Integer:
                w.WriteNumberValue(v.AsInt());
                break;
            default:
                w.WriteStringValue(v.AsString());
                break;
        }
    }

    public static HyperparameterValue ReadValue(JsonElement e, string name)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                return e.GetString()!;
            case JsonValueKind.Number:
                string raw = e.GetRawText();
                if (raw.IndexOfAny(['.', 'E', 'e']) < 0 && e.TryGetInt32(out int n))
                {
                    return n;
                }

                return ReadDouble(e, name);
            default:
                throw new FormatException($"the hyperparameter '{name}' must be a number or a string; found {e.ValueKind}");
        }
    }

    /// <summary>Writes a double that may be NaN (JSON has no NaN): NaN becomes null.</summary>
    public static void WriteNullableNumber(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value))
        {
            w.WriteNumber(name, value);
        }
        else if (double.IsNaN(value))
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value > 0 ? "Infinity" : "-Infinity");
        }
    }

    public static double ReadNullableNumber(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var p) || p.ValueKind == JsonValueKind.Null)
        {
            return double.NaN;
        }

        if (p.ValueKind == JsonValueKind.String)
        {
            return p.GetString() switch
            {
                "Infinity" => double.PositiveInfinity,
                "-Infinity" => double.NegativeInfinity,
                _ => throw new FormatException($"\"{name}\" must be a number, null or ±Infinity; found {Show(p)}"),
            };
        }

        // A number beyond a double's range (1e400) is refused, not read as ±∞: the writer writes ±∞ as a string.
        return ReadDouble(p, name);
    }
}
