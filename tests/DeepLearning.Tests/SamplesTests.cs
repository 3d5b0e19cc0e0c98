using System.Diagnostics;
using System.Text.Json;

namespace DeepLearning.Tests;

/// <summary>
/// A fact that runs a sample program: skipped, with the reason, when the sample is not built (the solution build of
/// <c>dotnet test DeepLearning.sln -c Release</c> builds them) or when the data it needs is not installed.
/// </summary>
public sealed class SampleFactAttribute : FactAttribute
{
    public SampleFactAttribute(string sample, string? needsFile = null)
    {
        if (SamplesTests.Dll(sample) is null)
        {
            Skip = $"samples/{sample} is not built in Release (build the solution: dotnet build DeepLearning.sln -c Release)";
        }
        else if (needsFile is not null && !File.Exists(needsFile))
        {
            Skip = $"samples/{sample} needs {needsFile}, which is not installed";
        }
    }
}

/// <summary>
/// Every sample runs to completion with <c>--json</c> (into a temporary output folder) and reaches its headline
/// result: the samples are the README's documentation, so one that throws or stops learning is a failing test.
/// </summary>
public class SamplesTests
{
    private const string FashionMnistImages = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    private const string Diabetes = "/usr/lib/python3/dist-packages/sklearn/datasets/data/diabetes_target.csv.gz";

    [SampleFact("Quickstart")]
    public void Quickstart_reaches_95_percent_on_digits() =>
        Run("Quickstart").GetProperty("testAccuracy").GetDouble().Should().BeGreaterThan(0.95);

    [SampleFact("GradientChecking")]
    public void GradientChecking_passes_the_network_and_catches_the_planted_bug()
    {
        var result = Run("GradientChecking");
        result.GetProperty("difference").GetDouble().Should().BeLessThan(1e-7);
        result.GetProperty("buggyDifference").GetDouble().Should().BeGreaterThan(1e-3);
    }

    [SampleFact("Optimization")]
    public void Optimization_shows_Adam_ahead_of_plain_gradient_descent()
    {
        var result = Run("Optimization");
        result.GetProperty("adam").GetProperty("trainAccuracy").GetDouble().Should().BeGreaterThan(result.GetProperty("gd").GetProperty("trainAccuracy").GetDouble());
    }

    [SampleFact("Initialization")]
    public void Initialization_shows_zeros_stuck_at_chance_and_He_learning()
    {
        var result = Run("Initialization");
        result.GetProperty("zeros").GetProperty("testAccuracy").GetDouble().Should().Be(0.5);
        result.GetProperty("he").GetProperty("testAccuracy").GetDouble().Should().BeGreaterThan(0.9);
    }

    [SampleFact("Regularization")]
    public void Regularization_shows_L2_raising_test_accuracy()
    {
        var result = Run("Regularization");
        result.GetProperty("l2").GetProperty("testAccuracy").GetDouble().Should().BeGreaterThan(result.GetProperty("none").GetProperty("testAccuracy").GetDouble());
    }

    [SampleFact("Autodiff")]
    public void Autodiff_trains_with_a_tape_made_loss() =>
        Run("Autodiff").GetProperty("customLossTestAccuracy").GetDouble().Should().BeGreaterThan(0.95);

    [SampleFact("HyperparameterSearch")]
    public void HyperparameterSearch_finds_a_model_above_95_percent()
    {
        var result = Run("HyperparameterSearch");
        result.GetProperty("bestDevAccuracy").GetDouble().Should().BeGreaterThan(0.95);
        result.GetProperty("testAccuracy").GetDouble().Should().BeGreaterThan(0.95);
    }

    [SampleFact("HyperparameterSearch")]
    public void HyperparameterSearch_study_runs_its_workers_and_refuses_a_process_with_other_epochs()
    {
        // The study mode ran one worker whatever --workers said, and a process with other --epochs joined the study.
        string folder = Directory.CreateTempSubdirectory("dl-sample-study-").FullName;
        try
        {
            string[] study = ["--storage", "sqlite:" + Path.Combine(folder, "study.db"), "--study", "s", "--trials", "3"];
            var first = Run("HyperparameterSearch", [.. study, "--epochs", "2", "--workers", "2"]);
            first.GetProperty("workers").GetInt32().Should().Be(2);
            first.GetProperty("completedByThisProcess").GetInt32().Should().Be(6);
            first.GetProperty("trials").GetInt32().Should().Be(6);

            var (exitCode, _, stderr) = RunProcess("HyperparameterSearch", [.. study, "--epochs", "3", "--workers", "1"]);
            exitCode.Should().Be(1);
            stderr.Should().Contain("study 's' already exists").And.Contain("different space").And.Contain("\"name\":\"epochs\",\"kind\":\"choice\",\"values\":[3]");
        }
        finally
        {
            Directory.Delete(folder, recursive: true); // the sample processes have exited: nothing holds the database
        }
    }

    [SampleFact("OnnxExport")]
    public void OnnxExport_agrees_with_ONNX_Runtime()
    {
        var result = Run("OnnxExport");
        result.GetProperty("maxAbsDiff").GetDouble().Should().BeLessThan(1e-5);
        result.GetProperty("onnxRuntimeAccuracy").GetDouble().Should().Be(result.GetProperty("ourAccuracy").GetDouble());
    }

    [SampleFact("Regression", Diabetes)]
    public void Regression_explains_a_third_of_the_variance() =>
        Run("Regression").GetProperty("testR2").GetDouble().Should().BeGreaterThan(0.3);

    [SampleFact("FashionMnist", FashionMnistImages)]
    public void FashionMnist_reaches_85_percent_in_three_epochs() =>
        Run("FashionMnist", "--epochs", "3").GetProperty("testAccuracy").GetDouble().Should().BeGreaterThan(0.85);

    /// <summary>samples/NAME/bin/Release/net10.0/NAME.dll above the test binary, or null.</summary>
    internal static string? Dll(string sample)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "DeepLearning.sln")))
            {
                string path = Path.Combine(dir.FullName, "samples", sample, "bin", "Release", "net10.0", sample + ".dll");
                return File.Exists(path) ? path : null;
            }
        }

        return null;
    }

    // Runs the sample with --json into a temporary folder; returns its last line, parsed.
    private static JsonElement Run(string sample, params string[] extra)
    {
        var (exitCode, stdout, stderr) = RunProcess(sample, extra);
        exitCode.Should().Be(0, $"samples/{sample} failed:\n{stdout}\n{stderr}");
        string last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
        return JsonDocument.Parse(last).RootElement.Clone();
    }

    // Runs the sample with --json into a temporary folder; returns its exit code and output.
    private static (int ExitCode, string Stdout, string Stderr) RunProcess(string sample, params string[] extra)
    {
        string output = Path.Combine(Path.GetTempPath(), $"dl-sample-{sample}-{Guid.NewGuid():N}");
        try
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in new[] { Dll(sample)!, "--json", "--out", output }.Concat(extra))
            {
                psi.ArgumentList.Add(a);
            }

            using var process = Process.Start(psi)!;
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit(300_000).Should().BeTrue($"samples/{sample} should finish within 5 minutes");
            return (process.ExitCode, stdout, stderr.Result);
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }
}
