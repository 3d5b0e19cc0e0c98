using System.Globalization;

namespace DeepLearning;

/// <summary>
/// Colours for plots. <see cref="Categorical"/> starts with the eight colours of Okabe and Ito's colour-blind-safe
/// palette (ordered so the first few differ most on white), followed by two extra hues for up to ten classes;
/// <see cref="Sequential"/> is a white-to-dark-blue ramp for heat maps.
/// </summary>
public static class Palette
{
    private static readonly string[] _categorical =
    [
        "#0072B2", // blue
        "#D55E00", // vermillion
        "#009E73", // bluish green
        "#E69F00", // orange
        "#CC79A7", // reddish purple
        "#56B4E9", // sky blue
        "#000000", // black
        "#F0E442", // yellow (weak on white: last of the eight)
        "#8C6D31", // brown
        "#7F7F7F", // grey
    ];

    // (t, r, g, b) stops of the sequential ramp, light to dark.
    private static readonly (double T, double R, double G, double B)[] _ramp =
    [
        (0.00, 247, 251, 255),
        (0.25, 198, 219, 239),
        (0.50, 107, 174, 214),
        (0.75, 33, 113, 181),
        (1.00, 8, 48, 107),
    ];

    /// <summary>The categorical colours, as <c>#RRGGBB</c>.</summary>
    public static IReadOnlyList<string> Categorical => _categorical;

    /// <summary>The categorical colour for series or class <paramref name="index"/> (cycling after the last).</summary>
    /// <param name="index">Series or class index; must be non-negative.</param>
    /// <returns>A colour as <c>#RRGGBB</c>.</returns>
    public static string Color(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return _categorical[index % _categorical.Length];
    }

    /// <summary>Mixes <paramref name="color"/> with white: <c>result = amount·color + (1 − amount)·white</c>.</summary>
    /// <param name="color">A colour as <c>#RRGGBB</c>.</param>
    /// <param name="amount">Share of the colour, in [0, 1]; small values give pale tints for backgrounds.</param>
    /// <returns>The tint as <c>#RRGGBB</c>.</returns>
    public static string Tint(string color, double amount)
    {
        if (!(amount >= 0 && amount <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(amount), amount, $"amount must be in [0, 1]; received {amount}");
        }

        var (r, g, b) = Parse(color);
        return Hex(255 + (amount * (r - 255)), 255 + (amount * (g - 255)), 255 + (amount * (b - 255)));
    }

    /// <summary>The sequential (white → dark blue) colour at position <paramref name="t"/>; values outside [0, 1] are clamped, NaN maps to 0.</summary>
    /// <param name="t">Position on the ramp.</param>
    /// <returns>A colour as <c>#RRGGBB</c>.</returns>
    public static string Sequential(double t)
    {
        t = double.IsNaN(t) ? 0 : Math.Clamp(t, 0, 1);
        for (var i = 1; i < _ramp.Length; i++)
        {
            if (t <= _ramp[i].T)
            {
                var (t0, r0, g0, b0) = _ramp[i - 1];
                var (t1, r1, g1, b1) = _ramp[i];
                var u = (t - t0) / (t1 - t0);
                return Hex(r0 + (u * (r1 - r0)), g0 + (u * (g1 - g0)), b0 + (u * (b1 - b0)));
            }
        }

        return Hex(_ramp[^1].R, _ramp[^1].G, _ramp[^1].B);
    }

    /// <summary>Relative luminance (sRGB, 0 = black, 1 = white) of <paramref name="color"/>, used to pick a readable text colour.</summary>
    /// <param name="color">A colour as <c>#RRGGBB</c>.</param>
    /// <returns>The relative luminance in [0, 1].</returns>
    public static double Luminance(string color)
    {
        var (r, g, b) = Parse(color);
        return (0.2126 * Linear(r)) + (0.7152 * Linear(g)) + (0.0722 * Linear(b));

        static double Linear(double channel)
        {
            var c = channel / 255;
            return c <= 0.04045 ? c / 12.92 : Math.Pow((c + 0.055) / 1.055, 2.4);
        }
    }

    /// <summary>Black or white, whichever contrasts more with <paramref name="background"/>.</summary>
    /// <param name="background">A colour as <c>#RRGGBB</c>.</param>
    /// <returns><c>#000000</c> or <c>#FFFFFF</c>.</returns>
    public static string ContrastingText(string background)
    {
        // Contrast ratio (L1 + 0.05) / (L2 + 0.05): black wins when L > ~0.179.
        var l = Luminance(background);
        return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? "#000000" : "#FFFFFF";
    }

    private static (int R, int G, int B) Parse(string color)
    {
        ArgumentNullException.ThrowIfNull(color);
        if (color.Length != 7 || color[0] != '#'
            || !int.TryParse(color.AsSpan(1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var rgb))
        {
            throw new ArgumentException($"colour must be #RRGGBB; received '{color}'", nameof(color));
        }

        return ((rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF);
    }

    private static string Hex(double r, double g, double b) =>
        string.Create(CultureInfo.InvariantCulture, $"#{Byte(r):X2}{Byte(g):X2}{Byte(b):X2}");

    private static int Byte(double v) => (int)Math.Round(Math.Clamp(v, 0, 255));
}
