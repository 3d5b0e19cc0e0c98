using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DeepLearning.Tests.Tensors;

/// <summary>Runs only on Linux with transparent huge pages in "always" or "madvise" mode; skips with the reason otherwise.</summary>
public sealed class HugePagesFactAttribute : FactAttribute
{
    private const string Setting = "/sys/kernel/mm/transparent_hugepage/enabled";

    public HugePagesFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(Setting))
        {
            Skip = $"transparent huge pages are a Linux feature ({Setting} is missing)";
        }
        else if (File.ReadAllText(Setting).Contains("[never]", StringComparison.Ordinal))
        {
            Skip = $"transparent huge pages are disabled on this machine ({Setting} reads [never])";
        }
    }
}

public sealed class HugePagesTests
{
    [HugePagesFact]
    public unsafe void A_large_tensor_is_advised_and_still_zero_filled_and_writable()
    {
        long before = HugePages.AdvisedBytes;
        var t = new Tensor<float>(4096, 1024); // 16 MiB: at least six whole 2 MiB pages inside it
        (HugePages.AdvisedBytes - before).Should().BeGreaterThanOrEqualTo(12L << 20, "the kernel accepts MADV_HUGEPAGE for the tensor's aligned interior");
        ((nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.Span)) % Tensor<float>.Alignment).Should().Be(0);
        t.Span.ToArray().Should().OnlyContain(v => v == 0f);
        for (int i = 0; i < t.Length; i += 997)
        {
            t.Span[i] = i;
        }

        for (int i = 0; i < t.Length; i += 997)
        {
            t.Span[i].Should().Be(i);
        }
    }

    [Fact]
    public void Small_ranges_and_ranges_without_a_whole_aligned_page_are_not_advised()
    {
        HugePages.Advise(1 << 21, 1 << 20).Should().BeFalse("1 MiB is below the 4 MiB minimum");
        // [2 MiB + 1, 6 MiB − 1) is 4 MiB − 2 bytes long but holds no whole 2 MiB page once rounded inwards.
        HugePages.Advise((1 << 21) + 1, (4 << 20) - 2).Should().BeFalse("the range holds no whole aligned 2 MiB page");
    }
}
