using System.Diagnostics;
using System.Globalization;
using DeepLearning.Kernels;

namespace DeepLearning.Benchmarks;

/// <summary>
/// <c>train --ab NAME</c>: one setting off against on, in one process, alternating whole epochs of the real fit loop
/// (off-on, then on-off, ...), so that the host's swings — ±10–30% between runs on a shared 2-vCPU machine — fall on
/// both sides alike. Prints the median seconds per epoch of each side, the median and quartiles of the per-round
/// on/off ratio, and in how many rounds "on" was faster. Run <c>none</c> first: it compares the same build with itself,
/// and its spread is the noise floor to read the others against.
/// Settings: <c>none</c>; <c>hugepages</c> (the training set copied into a tensor allocated with and without the
/// transparent-huge-page advice, see <c>Tensor&lt;T&gt;</c>); <c>columns</c> (GEMMs whose A is read in place split by
/// column panels at any row count, or only below <c>GemmBlocking.ColumnSplitTiles</c> row tiles).
/// Options: <c>--threads N</c> (default 2), <c>--batch M</c> (default 64), <c>--rounds R</c> (default 20), <c>--data DIR</c>.
/// Output: <c>ab NAME batch=M threads=N rounds=R off_median=s on_median=s on/off=r [q1, q3] on_faster=k/R</c>.
/// </summary>
internal static class TrainAB
{
    public static int Run(string[] args)
    {
        int i = Array.IndexOf(args, "--ab");
        string setting = i >= 0 && i + 1 < args.Length ? args[i + 1] : "none";
        int threads = TrainQuick.Option(args, "--threads", 2);
        int batch = TrainQuick.Option(args, "--batch", 64);
        int rounds = TrainQuick.Option(args, "--rounds", 20);
        Gemm.MaxThreads = threads;

        HugePages.Enabled = setting != "hugepages";
        var (offSet, name) = TrainQuick.Load(args);
        HugePages.Enabled = true;
        var onSet = offSet;
        Action<bool> set = setting switch
        {
            "none" or "hugepages" => Unchanged, // hugepages: the two sides differ by their data set, below
            "columns" => on => GemmBlocking.ColumnSplitForPacking = on,
            "transposed" => on => GemmBlocking.TransposedProductOnAvx2 = on,
            "partial" => on => GemmBlocking.PartialTileInPlace = on,
            "shares" => on => GemmBlocking.EqualRowShares = on,
            _ => throw new ArgumentException($"unknown setting '{setting}': none, hugepages, columns, transposed, partial or shares", nameof(args)),
        };
        if (setting == "hugepages")
        {
            var x = new Tensor<float>(offSet.Count, offSet.Features); // advised before its first write
            offSet.X.ReadOnlySpan.CopyTo(x.Span);
            onSet = new DataSet<float>(x, offSet.Y, (int[]?)offSet.Labels?.Clone(), offSet.Classes, offSet.ClassNames);
        }

        var model = TrainQuick.Reference();
        var options = new TrainingOptions<float> { Optimizer = new Adam(0.001), Epochs = 1, BatchSize = batch, Seed = 1 };
        double Epoch(bool on)
        {
            set(on);
            var watch = Stopwatch.StartNew();
            model.Fit(on ? onSet : offSet, options);
            return watch.Elapsed.TotalSeconds;
        }

        Epoch(false); // warm-up: JIT tiers, buffers, pages
        Epoch(true);
        var off = new List<double>();
        var on = new List<double>();
        var ratio = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            bool onFirst = r % 2 == 1;
            double first = Epoch(onFirst), second = Epoch(!onFirst);
            double tOn = onFirst ? first : second, tOff = onFirst ? second : first;
            on.Add(tOn);
            off.Add(tOff);
            ratio.Add(tOn / tOff);
        }

        set(true);
        off.Sort();
        on.Sort();
        ratio.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ab {setting} {name} batch={batch} threads={threads} rounds={rounds} off_median={off[rounds / 2]:F3} on_median={on[rounds / 2]:F3} on/off={ratio[rounds / 2]:F3} [{ratio[rounds / 4]:F3}, {ratio[(3 * rounds) / 4]:F3}] on_faster={ratio.Count(x => x < 1)}/{rounds}"));
        return 0;
    }

    private static void Unchanged(bool on)
    {
    }
}
