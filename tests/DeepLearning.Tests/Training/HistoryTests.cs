
namespace DeepLearning.Tests.Training;

public class HistoryTests
{
    [Fact]
    public void Epochs_are_numbered_in_order_and_best_is_the_lowest_dev_cost_by_default()
    {
        var h = Sample();
        h.Count.Should().Be(4);
        h.Epochs.Select(e => e.Epoch).Should().Equal(0, 1, 2, 3);
        h.Last!.Cost.Should().Be(0.2);
        h.Monitor.Should().Be("dev cost");
        h.BestEpoch!.Epoch.Should().Be(2, "0.4 is the lowest dev cost (epoch 3's dev cost rose to 0.45)");
        h.Best(e => e.DevCost, higherIsBetter: false)!.Epoch.Should().Be(2);
        h.Best(e => e.TrainMetric, higherIsBetter: true)!.Epoch.Should().Be(3);
        h.IterationCosts.Should().Equal(0.9, 0.7, 0.5);
    }

    [Fact]
    public void Lower_is_better_metric_and_missing_dev_set()
    {
        var h = new History("error", higherIsBetter: false);
        h.AddEpoch(1, null, 1, 0.3, 0.1, 0);
        h.AddEpoch(1, null, 1, 0.2, 0.1, 0);
        h.AddEpoch(1, null, 1, double.NaN, 0.1, 0);
        h.Best(e => e.DevMetric, h.HigherIsBetter)!.Epoch.Should().Be(1);
        h.BestEpoch!.Epoch.Should().Be(0, "all dev costs tie at 1: the earliest wins");

        var noDev = new History();
        noDev.AddEpoch(1, 0.5, null, null, 0.1, 0);
        noDev.AddEpoch(0.5, 0.5, null, null, 0.1, 0);
        noDev.Monitor.Should().Be("cost");
        noDev.BestEpoch!.Epoch.Should().Be(1, "without a dev set the training cost decides");

        // An early-stopping callback's choice is what BestEpoch reports, whatever the plain minimum says.
        noDev.SetMonitor("dev accuracy", 0);
        noDev.Monitor.Should().Be("dev accuracy");
        noDev.BestEpoch!.Epoch.Should().Be(0);
        new History().Last.Should().BeNull();
    }

    [Fact]
    public void Explicit_epoch_numbers_must_increase_and_values_are_checked()
    {
        var h = new History();
        h.AddEpoch(new EpochRecord(5, 1, null, null, null, 0.1, 0));
        h.AddEpoch(1, null, null, null, 0.1, 0).Epoch.Should().Be(6);
        var act = () => h.AddEpoch(new EpochRecord(6, 1, null, null, null, 0.1, 0));
        act.Should().Throw<ArgumentException>().WithMessage("epoch numbers must be non-negative and increasing; received 6 after 6*");
        act = () => h.AddEpoch(1, null, null, null, 0, 0);
        act.Should().Throw<ArgumentException>().WithMessage("the learning rate must be positive and finite; received 0*");
        act = () => h.AddEpoch(1, null, null, null, 0.1, -1);
        act.Should().Throw<ArgumentException>().WithMessage("seconds must be non-negative and finite; received -1*");
        h.AddEpoch(double.NaN, null, null, null, 0.1, 0).Cost.Should().Be(double.NaN, "a diverged epoch is still recorded");
    }

    [Fact]
    public void Csv_has_a_header_round_trip_numbers_and_empty_cells()
    {
        var h = new History("accuracy");
        h.AddEpoch(0.1 + 0.2, 0.5, null, null, 0.001, 1.25);
        h.AddEpoch(0.25, 0.75, 0.3, 0.7, 0.0005, 1.5);
        h.ToCsv().Should().Be(
            "epoch,cost,train_accuracy,dev_cost,dev_accuracy,learning_rate,seconds\n" +
            "0,0.30000000000000004,0.5,,,0.001,1.25\n" +
            "1,0.25,0.75,0.3,0.7,0.0005,1.5\n");
        h.AddIteration(0.5);
        h.AddIteration(1e-20);
        h.IterationsToCsv().Should().Be("iteration,cost\n0,0.5\n1,1E-20\n");
    }

    [Fact]
    public void SaveCsv_replaces_the_file_atomically_and_leaves_no_temporary_file()
    {
        string folder = Directory.CreateTempSubdirectory("history-test").FullName;
        try
        {
            string path = Path.Combine(folder, "history.csv");
            File.WriteAllText(path, "old");
            var h = Sample();
            h.SaveCsv(path);
            File.ReadAllText(path).Should().Be(h.ToCsv());
            h.SaveIterationsCsv(Path.Combine(folder, "iterations.csv"));
            File.ReadAllText(Path.Combine(folder, "iterations.csv")).Should().Be(h.IterationsToCsv());
            Directory.GetFiles(folder).Select(Path.GetFileName).Should().BeEquivalentTo(["history.csv", "iterations.csv"]);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void ToString_shows_measured_columns_and_the_best_epoch()
    {
        string text = Sample().ToString();
        var lines = text.Split(Environment.NewLine);
        lines[0].Should().Be(" epoch        cost    accuracy    dev cost    dev accuracy           α   seconds");
        lines[1].Should().Be("     0         0.8         0.6        0.85            0.58        0.01      1.00");
        lines[^1].Should().Be("3 iterations, 4.5 s; best epoch 2 by dev cost (0.4)");

        var bare = new History();
        bare.AddEpoch(0.5, null, null, null, 0.1, 0.25);
        bare.ToString().Split(Environment.NewLine)[0].Should().Be(" epoch        cost           α   seconds");
        new History().ToString().Should().Be("History: no epochs");
    }

    [Fact]
    public void SameValuesAs_ignores_only_the_seconds()
    {
        var (a, b) = (Sample(), Sample());
        a.SameValuesAs(b).Should().BeTrue();
        var c = new History();
        foreach (var e in a.Epochs)
        {
            c.AddEpoch(e with { Seconds = e.Seconds + 3 });
        }

        foreach (var cost in a.IterationCosts)
        {
            c.AddIteration(cost);
        }

        a.SameValuesAs(c).Should().BeTrue();
        c.AddIteration(0.1);
        a.SameValuesAs(c).Should().BeFalse();
        var d = new History();
        d.AddEpoch(a.Epochs[0] with { Cost = 0.8000001 });
        a.SameValuesAs(d).Should().BeFalse();
    }

    [Fact]
    public void AddIteration_within_reserved_capacity_allocates_nothing()
    {
        var h = new History();
        h.EnsureIterationCapacity(1000);
        h.AddIteration(1);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 900; i++)
        {
            h.AddIteration(i);
        }

        (GC.GetAllocatedBytesForCurrentThread() - before).Should().Be(0);
    }

    internal static History Sample()
    {
        var h = new History();
        h.AddIteration(0.9);
        h.AddIteration(0.7);
        h.AddIteration(0.5);
        h.AddEpoch(0.8, 0.6, 0.85, 0.58, 0.01, 1.0);
        h.AddEpoch(0.5, 0.8, 0.6, 0.79, 0.01, 1.5);
        h.AddEpoch(0.3, 0.93, 0.4, 0.91, 0.005, 1.0);
        h.AddEpoch(0.2, 0.97, 0.45, 0.91, 0.005, 1.0);
        return h;
    }
}
