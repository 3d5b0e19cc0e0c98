using System.Diagnostics;
using System.Globalization;
using DeepLearning.Tuning.Storage;

namespace DeepLearning.Benchmarks;

/// <summary>
/// <c>storage --quick --storage URL [--trials N]</c>: milliseconds per trial spent in a study storage itself — claim,
/// one heartbeat and the result, called back to back by one worker with an objective that does nothing — after a
/// warm-up study (connection pool, JIT, schema), with the in-memory storage as the peer in the same run.
/// </summary>
internal static class StorageQuick
{
    public static int Run(string[] args)
    {
        int i = Array.IndexOf(args, "--storage");
        if (i < 0 || i + 1 >= args.Length)
        {
            Console.Error.WriteLine("storage --quick needs --storage URL (sqlite:PATH or a PostgreSQL connection URL)");
            return 2;
        }

        string url = args[i + 1];
        int trials = TrainQuick.Option(args, "--trials", 300);
        string cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
            : "unknown CPU";
        Console.WriteLine($"CPU: {cpu}, {Environment.ProcessorCount} logical cores; {trials} trials per storage, 1 worker");
        foreach (string target in new[] { "memory", url })
        {
            using var storage = StudyStorage.Open(target);
            string study = "overhead-" + Guid.NewGuid().ToString("N")[..8];
            Measure(storage, study + "-warm", Math.Min(20, trials));
            double ms = Measure(storage, study, trials);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{storage.Location,-50} {ms,8:F3} ms per trial (claim + heartbeat + result)"));
        }

        return 0;
    }

    private static double Measure(IStudyStorage storage, string name, int n)
    {
        storage.OpenStudy(name, StudyDefinition.Random(new SearchSpace().Uniform("x", 0, 1), new SearchOptions { Seed = 1, Trials = n }));
        var watch = Stopwatch.StartNew();
        for (int t = 0; t < n; t++)
        {
            var claim = storage.ClaimNext(name, "bench", TimeSpan.FromMinutes(5)).Claim!;
            storage.Heartbeat(name, claim);
            storage.Complete(name, claim, new TrialOutcome(claim.Config.GetDouble("x")), 0);
        }

        return watch.Elapsed.TotalMilliseconds / n;
    }
}
