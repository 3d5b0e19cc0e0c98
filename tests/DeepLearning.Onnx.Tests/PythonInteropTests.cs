using System.Diagnostics;
using System.Text.Json.Nodes;

namespace DeepLearning.Onnx.Tests;

/// <summary>Runs only when /usr/bin/python3 can import the given modules (Debian: python3-onnx, python3-torch).</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute(params string[] modules)
    {
        foreach (var module in modules)
        {
            if (!Python.HasModule(module))
            {
                Skip = $"/usr/bin/python3 cannot import '{module}' (sudo apt-get install python3-onnx python3-torch)";
                return;
            }
        }
    }
}

internal static class Python
{
    private const string Executable = "/usr/bin/python3";
    private static readonly Dictionary<string, bool> _modules = [];

    public static bool HasModule(string module)
    {
        lock (_modules)
        {
            if (!_modules.TryGetValue(module, out bool present))
            {
                present = File.Exists(Executable) && Run(["-c", $"import {module}"], out _) == 0;
                _modules[module] = present;
            }

            return present;
        }
    }

    public static int Run(IEnumerable<string> arguments, out string output)
    {
        var start = new ProcessStartInfo(Executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["OPENBLAS_NUM_THREADS"] = "1";
        start.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        output = process.StandardOutput.ReadToEnd() + stderr.Result;
        process.WaitForExit();
        return process.ExitCode;
    }
}

/// <summary>The ONNX reference tools on our files, and PyTorch's files in our importer.</summary>
public class PythonInteropTests
{
    [PythonFact("onnx")]
    public void Every_exported_file_passes_the_onnx_checker_with_full_check()
    {
        var files = new List<string>();
        foreach (var architecture in TestModels.Architectures)
        {
            foreach (var transform in TestModels.Transforms)
            {
                string f = TestModels.TempFile($"checker-{architecture}-{transform}-float.onnx");
                TestModels.Build<float>(architecture, transform).Model.SaveOnnx(f);
                string d = TestModels.TempFile($"checker-{architecture}-{transform}-double.onnx");
                TestModels.Build<double>(architecture, transform).Model.SaveOnnx(d);
                files.Add(f);
                files.Add(d);
            }
        }

        foreach (var transform in TestModels.Transforms)
        {
            string f = TestModels.TempFile($"checker-target-{transform}-float.onnx");
            TestModels.Regression<float>(transform, targetEpsilon: 0.25).Model.SaveOnnx(f);
            string d = TestModels.TempFile($"checker-target-{transform}-double.onnx");
            TestModels.Regression<double>(transform).Model.SaveOnnx(d);
            files.Add(f);
            files.Add(d);
        }

        const string script = """
            import sys, onnx
            for path in sys.argv[1:]:
                model = onnx.load(path)
                onnx.checker.check_model(model, full_check=True)
                assert model.opset_import[0].version == 17, model.opset_import
                print("ok", path)
            """;
        int code = Python.Run(["-c", script, .. files], out string output);
        code.Should().Be(0, output);
        output.Split('\n').Count(l => l.StartsWith("ok ", StringComparison.Ordinal)).Should().Be(files.Count, output);
    }

    [PythonFact("torch")]
    public void Files_from_torch_onnx_export_predict_like_PyTorch()
    {
        string dir = TestModels.TempFile("torch");
        Directory.CreateDirectory(dir);
        string script = Path.Combine(AppContext.BaseDirectory, "torch_export.py");
        int code = Python.Run([script, dir], out string output);
        code.Should().Be(0, output);

        foreach (var name in new[] { "sequential_bn", "sigmoid_opset11", "flatten_4d" })
        {
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, name + ".json")))!;
            var shape = json["shape"]!.AsArray().Select(d => (int)d!).ToArray();
            var x = json["x"]!.AsArray().Select(v => (float)(double)v!).ToArray();
            var y = json["y"]!.AsArray().Select(v => (double)v!).ToArray();
            int features = x.Length / shape[0];

            var model = OnnxModel.Load<float>(Path.Combine(dir, name + ".onnx"));
            model.InputSize.Should().Be(features, name);
            var ours = model.Predict(Tensor.FromArray(x).Reshape(shape[0], features));
            ours.Length.Should().Be(y.Length, name);
            double worst = 0;
            for (int i = 0; i < y.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(ours.ReadOnlySpan[i] - y[i]));
            }

            // PyTorch computes in float32 with its own summation order: agreement to float rounding.
            worst.Should().BeLessThan(1e-5, $"{name}: largest difference from PyTorch");

            var inDouble = OnnxModel.Load<double>(Path.Combine(dir, name + ".onnx"));
            var oursDouble = inDouble.Predict(Tensor.FromArray(x.Select(v => (double)v).ToArray()).Reshape(shape[0], features));
            for (int i = 0; i < y.Length; i++)
            {
                oursDouble.ReadOnlySpan[i].Should().BeApproximately(y[i], 1e-5, name);
            }
        }
    }
}
