using System.Globalization;

namespace DeepLearning;

/// <summary>What a <see cref="HyperparameterValue"/> holds.</summary>
public enum HyperparameterKind
{
    /// <summary>A real number, e.g. the learning rate α or β1.</summary>
    Real,

    /// <summary>An integer, e.g. the number of hidden units n[l] or of layers L.</summary>
    Integer,

    /// <summary>A label, e.g. an activation name picked by a choice dimension.</summary>
    Text,
}

/// <summary>
/// One sampled hyperparameter: a real number, an integer or a text label. Values compare by kind
/// and content; a real never equals an integer, so a trial's JSON round-trips to the same kinds.
/// </summary>
public readonly record struct HyperparameterValue
{
    private readonly double _real;
    private readonly int _integer;
    private readonly string? _text;

    private HyperparameterValue(HyperparameterKind kind, double real, int integer, string? text)
    {
        Kind = kind;
        _real = real;
        _integer = integer;
        _text = text;
    }

    /// <summary>What this value holds.</summary>
    public HyperparameterKind Kind { get; }

    /// <summary>True for <see cref="HyperparameterKind.Real"/> and <see cref="HyperparameterKind.Integer"/>.</summary>
    public bool IsNumeric => Kind != HyperparameterKind.Text;

    /// <summary>A real value; it must be finite.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is NaN or infinite.</exception>
    public static HyperparameterValue FromReal(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, $"a hyperparameter value must be finite; received {value}");
        }

        return new HyperparameterValue(HyperparameterKind.Real, value, 0, null);
    }

    /// <summary>An integer value.</summary>
    public static HyperparameterValue FromInteger(int value) => new(HyperparameterKind.Integer, 0, value, null);

    /// <summary>A text value; it must not be null.</summary>
    public static HyperparameterValue FromText(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new HyperparameterValue(HyperparameterKind.Text, 0, 0, value);
    }

    /// <summary>Wraps a real number.</summary>
    public static implicit operator HyperparameterValue(double value) => FromReal(value);

    /// <summary>Wraps an integer.</summary>
    public static implicit operator HyperparameterValue(int value) => FromInteger(value);

    /// <summary>Wraps a text label.</summary>
    public static implicit operator HyperparameterValue(string value) => FromText(value);

    /// <summary>The value as a double: a real as is, an integer converted.</summary>
    /// <exception cref="InvalidOperationException">The value is text.</exception>
    public double AsDouble() => Kind switch
    {
        HyperparameterKind.Real => _real,
        HyperparameterKind.Integer => _integer,
        _ => throw new InvalidOperationException($"the hyperparameter value \"{_text}\" is text, not a number"),
    };

    /// <summary>The value as an integer.</summary>
    /// <exception cref="InvalidOperationException">The value is a real or text.</exception>
    public int AsInt() => Kind == HyperparameterKind.Integer
        ? _integer
        : throw new InvalidOperationException($"the hyperparameter value {this} is {Kind}, not an integer");

    /// <summary>The value as text.</summary>
    /// <exception cref="InvalidOperationException">The value is a number.</exception>
    public string AsString() => Kind == HyperparameterKind.Text
        ? _text!
        : throw new InvalidOperationException($"the hyperparameter value {this} is {Kind}, not text");

    /// <summary>The value in round-trip form: reals with the shortest exact digits, invariant culture.</summary>
    public override string ToString() => Kind switch
    {
        HyperparameterKind.Real => _real.ToString("R", CultureInfo.InvariantCulture),
        HyperparameterKind.Integer => _integer.ToString(CultureInfo.InvariantCulture),
        _ => _text ?? string.Empty,
    };

    /// <summary>A compact form for tables: reals with <paramref name="significantDigits"/> significant digits.</summary>
    public string Format(int significantDigits = 4) => Kind == HyperparameterKind.Real
        ? _real.ToString("G" + Math.Clamp(significantDigits, 1, 17).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)
        : ToString();
}
