using System.Globalization;
using System.Text;

namespace DeepLearning;

/// <summary>Number and text formatting for SVG output: invariant culture, XML-escaped.</summary>
internal static class SvgFormat
{
    /// <summary>A coordinate with at most two decimals, invariant culture, never "-0" or "NaN".</summary>
    public static string Number(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, $"SVG coordinates must be finite; received {value.ToString(CultureInfo.InvariantCulture)}");
        }

        var text = value.ToString("0.##", CultureInfo.InvariantCulture);
        return text == "-0" ? "0" : text;
    }

    /// <summary>Escapes text for use inside an element or a double-quoted attribute; drops characters XML 1.0 forbids.</summary>
    public static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        StringBuilder? sb = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            string? replacement = c switch
            {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&apos;",
                _ => null,
            };
            var valid = true;
            if (replacement is null)
            {
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    // A well-formed pair: copy both halves.
                    if (sb is not null)
                    {
                        sb.Append(c).Append(text[i + 1]);
                    }

                    i++;
                    continue;
                }

                valid = IsXmlChar(c);
                if (valid && sb is null)
                {
                    continue;
                }
            }

            sb ??= new StringBuilder(text.Length + 16).Append(text, 0, i);
            if (replacement is not null)
            {
                sb.Append(replacement);
            }
            else if (valid)
            {
                sb.Append(c);
            }
            else
            {
                sb.Append('\uFFFD');
            }
        }

        return sb?.ToString() ?? text;
    }

    private static bool IsXmlChar(char c) =>
        c is '\t' or '\n' or '\r'
        || (c >= 0x20 && c <= 0xD7FF)
        || (c >= 0xE000 && c <= 0xFFFD);

    /// <summary>Estimated rendered width of <paramref name="text"/> in a sans-serif font (DejaVu Sans is about 0.6 em per character).</summary>
    public static double TextWidth(string text, double fontSize) => text.Length * fontSize * 0.6;
}
