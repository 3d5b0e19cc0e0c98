using BenchmarkDotNet.Running;

namespace DeepLearning.Benchmarks;

/// <summary>
/// Entry point: <c>gemm --quick</c> runs the quick GEMM table (one line per case), <c>train --quick</c> the
/// seconds per epoch of the reference MLP; anything else goes to
/// BenchmarkDotNet's switcher over every suite in this assembly.
/// </summary>
public static class Program
{
    /// <summary>Runs the quick mode or the benchmarks named on the command line.</summary>
    public static int Main(string[] args)
    {
        if (args.Length >= 1 && args[0] == "gemm" && args.Contains("--quick"))
        {
            return GemmQuick.Run(args);
        }

        if (args.Length >= 1 && args[0] == "train" && args.Contains("--quick"))
        {
            return TrainQuick.Run(args);
        }

        if (args.Length >= 1 && args[0] == "autodiff" && args.Contains("--quick"))
        {
            return TapeQuick.Run(args);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
