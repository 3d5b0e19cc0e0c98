
namespace DeepLearning.Tests.Data;

/// <summary>Small data sets whose rows can be recognized: X[i, 0] = i.</summary>
internal static class TestData
{
    /// <summary>m rows, n features; X[i, j] = i + j/1000; labels i % classes (or regression targets 2i when classes = 0).</summary>
    public static DataSet<T> Numbered<T>(int m, int n = 3, int classes = 3)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var x = new Tensor<T>(m, n);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                x[i, j] = T.CreateTruncating(i + (j / 1000.0));
            }
        }

        if (classes == 0)
        {
            var y = new Tensor<T>(m, 1);
            for (int i = 0; i < m; i++)
            {
                y[i, 0] = T.CreateTruncating(2.0 * i);
            }

            return new DataSet<T>(x, y);
        }

        var labels = Enumerable.Range(0, m).Select(i => i % classes).ToArray();
        return DataSet.FromLabels(x, labels, classes);
    }

    /// <summary>The row ids (X[i, 0]) of a data set.</summary>
    public static int[] Ids<T>(DataSet<T> d)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        => Enumerable.Range(0, d.Count).Select(i => (int)double.CreateTruncating(d.X[i, 0])).ToArray();

    /// <summary>Reads a whole epoch, returning the ids of X[., 0] and the batch sizes.</summary>
    public static (List<int> Ids, List<int> Batches) ReadEpoch<T>(IDataSource<T> source, int batchSize, RandomSource? random)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var x = new Tensor<T>(batchSize, source.Features);
        var y = new Tensor<T>(batchSize, source.Targets);
        var ids = new List<int>();
        var batches = new List<int>();
        using var reader = source.OpenEpoch(batchSize, random);
        int r;
        while ((r = reader.Next(x, y)) > 0)
        {
            batches.Add(r);
            for (int i = 0; i < r; i++)
            {
                ids.Add((int)Math.Round(double.CreateTruncating(x[i, 0])));
            }
        }

        return (ids, batches);
    }

    /// <summary>Bytes allocated on this thread by <paramref name="action"/>, after it has run <paramref name="warmUp"/> times.</summary>
    public static long AllocatedBy(Action action, int warmUp = 3)
    {
        for (int i = 0; i < warmUp; i++)
        {
            action();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}

/// <summary>A temporary folder deleted after the test.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "dl-data-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
