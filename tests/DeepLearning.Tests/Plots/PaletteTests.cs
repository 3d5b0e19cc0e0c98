
namespace DeepLearning.Tests.Plots;

public class PaletteTests
{
    [Fact]
    public void Categorical_colours_are_distinct_and_start_with_okabe_ito_blue_and_vermillion()
    {
        Palette.Categorical.Should().OnlyHaveUniqueItems().And.HaveCount(10);
        Palette.Color(0).Should().Be("#0072B2");
        Palette.Color(1).Should().Be("#D55E00");
        Palette.Color(10).Should().Be(Palette.Color(0), "colours cycle");
    }

    [Fact]
    public void Tint_mixes_with_white()
    {
        Palette.Tint("#0072B2", 0).Should().Be("#FFFFFF");
        Palette.Tint("#0072B2", 1).Should().Be("#0072B2");
        // 255 + 0.5·(0 − 255) = 127.5 → 128 (0x80); 255 + 0.5·(114 − 255) = 184.5 → 184 (banker's rounding, 0xB8).
        Palette.Tint("#0072B2", 0.5).Should().Be("#80B8D8");
        var act = () => Palette.Tint("blue", 0.5);
        act.Should().Throw<ArgumentException>().WithMessage("*#RRGGBB*blue*");
    }

    [Fact]
    public void Sequential_ramp_runs_from_near_white_to_dark_blue_and_clamps()
    {
        Palette.Sequential(0).Should().Be("#F7FBFF");
        Palette.Sequential(1).Should().Be("#08306B");
        Palette.Sequential(-3).Should().Be("#F7FBFF");
        Palette.Sequential(double.NaN).Should().Be("#F7FBFF");
        Palette.Sequential(7).Should().Be("#08306B");
        var lum = Enumerable.Range(0, 11).Select(i => Palette.Luminance(Palette.Sequential(i / 10.0))).ToArray();
        lum.Should().BeInDescendingOrder();
    }

    [Fact]
    public void Contrasting_text_is_white_on_dark_and_black_on_light()
    {
        Palette.Luminance("#FFFFFF").Should().BeApproximately(1, 1e-12);
        Palette.Luminance("#000000").Should().Be(0);
        Palette.ContrastingText("#08306B").Should().Be("#FFFFFF");
        Palette.ContrastingText("#F7FBFF").Should().Be("#000000");
        Palette.ContrastingText("#FFFF00").Should().Be("#000000");
    }
}
