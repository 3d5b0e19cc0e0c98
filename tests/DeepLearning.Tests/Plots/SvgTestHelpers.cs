using System.Globalization;
using System.Xml.Linq;

namespace DeepLearning.Tests.Plots;

internal static class SvgTestHelpers
{
    public static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    /// <summary>Parses the document (throws if it is not well-formed XML) and returns its root.</summary>
    public static XElement Parse(SvgDocument doc)
    {
        var root = XDocument.Parse(doc.ToString()).Root!;
        root.Name.Should().Be(Svg + "svg");
        return root;
    }

    public static List<XElement> Elements(XElement root, string name, string? cssClass = null) =>
        root.Descendants(Svg + name)
            .Where(e => cssClass is null || (string?)e.Attribute("class") == cssClass)
            .ToList();

    public static double Number(XElement e, string attribute) =>
        double.Parse((string)e.Attribute(attribute)!, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>Runs <paramref name="action"/> with <paramref name="culture"/> as the thread's current culture.</summary>
    public static T WithCulture<T>(string culture, Func<T> action)
    {
        var (saved, savedUi) = (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture);
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(culture);
            return action();
        }
        finally
        {
            (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture) = (saved, savedUi);
        }
    }
}
