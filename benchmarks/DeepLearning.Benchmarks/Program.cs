using BenchmarkDotNet.Running;

namespace DeepLearning.Benchmarks;

/// <summary>
/// Entry point: <c>gemm --quick</c> runs the quick GEMM table (one line per case), <c>peak --quick</c> the FMA
/// peak of this machine, <c>infer --quick</c> inference latency and allocation per call, <c>train --quick</c> the
/// seconds per epoch of the reference MLP with its efficiency and PyTorch's figure, <c>train --profile</c> where a
/// training step's time goes, <c>train --ab NAME</c> one setting off against on in alternated epochs,
/// <c>storage --quick</c> a study storage's cost per trial; anything else goes to
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

        if (args.Length >= 1 && args[0] == "peak" && args.Contains("--quick"))
        {
            return PeakQuick.Run(args);
        }

        if (args.Length >= 1 && args[0] == "infer" && args.Contains("--quick"))
        {
            return InferQuick.Run(args);
        }

        if (args.Length >= 1 && args[0] == "train" && args.Contains("--profile"))
        {
            return TrainProfile.Run(args);
        }

        if (args.Length >= 1 && args[0] == "train" && args.Contains("--ab"))
        {
            return TrainAB.Run(args);
        }

        if (args.Length >= 1 && args[0] == "train" && args.Contains("--quick"))
        {
            return TrainQuick.Run(args);
        }

        if (args.Length >= 1 && args[0] == "storage" && args.Contains("--quick"))
        {
            return StorageQuick.Run(args);
        }

        if (args.Length >= 1 && args[0] == "autodiff" && args.Contains("--quick"))
        {
            return TapeQuick.Run(args);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
