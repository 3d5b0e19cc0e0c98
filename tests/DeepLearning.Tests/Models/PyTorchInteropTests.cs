using System.Diagnostics;

namespace DeepLearning.Tests.Models;

/// <summary>Runs only where Debian's python3-torch is installed (CI installs it); skips with the reason otherwise.</summary>
public sealed class TorchFactAttribute : FactAttribute
{
    /// <summary>Where Debian's python3-torch puts the package; checked without starting Python, so discovery stays fast.</summary>
    public const string TorchPackage = "/usr/lib/python3/dist-packages/torch/__init__.py";

    public TorchFactAttribute()
    {
        if (!File.Exists("/usr/bin/python3") || !File.Exists(TorchPackage))
        {
            Skip = $"PyTorch is not installed ({TorchPackage} is missing): sudo apt-get install python3-torch";
        }
    }
}

/// <summary>
/// state_dicts move both ways between this library and PyTorch (Debian's python3-torch 1.13), through safetensors
/// files written and read by hand in Python (Debian has no python3-safetensors): the format is an 8-byte
/// little-endian header length, a JSON header, then the raw tensor bytes.
/// </summary>
public sealed class PyTorchInteropTests : IDisposable
{
    private const string Script = """
        import json, struct, sys
        import torch
        from torch import nn

        DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64}

        def save(path, tensors):
            header, blobs, offset = {}, [], 0
            for name, t in tensors.items():
                t = t.detach().contiguous()
                data = t.numpy().tobytes()
                dtype = {v: k for k, v in DTYPES.items()}[t.dtype]
                header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
                blobs.append(data)
                offset += len(data)
            text = json.dumps(header).encode()
            text += b' ' * (-len(text) % 8)
            with open(path, 'wb') as f:
                f.write(struct.pack('<Q', len(text)))
                f.write(text)
                for b in blobs:
                    f.write(b)

        def load(path):
            with open(path, 'rb') as f:
                data = f.read()
            n = struct.unpack('<Q', data[:8])[0]
            header = json.loads(data[8:8 + n])
            out = {}
            for name, e in header.items():
                if name == '__metadata__':
                    continue
                begin, end = e['data_offsets']
                raw = bytearray(data[8 + n + begin:8 + n + end])
                out[name] = torch.frombuffer(raw, dtype=DTYPES[e['dtype']]).reshape(e['shape'])
            return out

        torch.set_num_threads(1)
        mode = sys.argv[1]
        if mode == 'export':
            # A small classifier with batch norm, trained-looking running statistics, and a fixed seed.
            torch.manual_seed(0)
            net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2),
                                nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3), nn.Softmax(dim=1))
            net.train()
            with torch.no_grad():
                for _ in range(3):
                    net(torch.randn(16, 6) * 2 + 1)
            net.eval()
            x = torch.randn(7, 6)
            with torch.no_grad():
                y = net(x)
            save(sys.argv[2], net.state_dict())
            save(sys.argv[3], {'x': x, 'y': y})
        else:
            # The architecture our model was built with, as nn.Sequential; strict loading of our saved file.
            net = nn.Sequential(nn.Linear(5, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(),
                                nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 4), nn.LeakyReLU(0.01),
                                nn.Linear(4, 3), nn.Softmax(dim=1))
            result = net.load_state_dict(load(sys.argv[2]), strict=True)
            net.eval()
            x = load(sys.argv[3])['x']
            with torch.no_grad():
                y = net(x)
            save(sys.argv[4], {'y': y})
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("dl-torch-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Python(params string[] args)
    {
        string script = Path.Combine(_dir, "interop.py");
        File.WriteAllText(script, Script);
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["OPENBLAS_NUM_THREADS"] = "1";
        start.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        process.WaitForExit(TimeSpan.FromMinutes(5)).Should().BeTrue("python3 finishes");
        process.ExitCode.Should().Be(0, $"python3 {string.Join(' ', args)} failed:\n{stdout.Result}\n{stderr.Result}");
    }

    [TorchFact]
    public void A_PyTorch_state_dict_loads_into_the_same_network_built_in_code_and_predicts_the_same()
    {
        string weights = Path.Combine(_dir, "torch.safetensors");
        string io = Path.Combine(_dir, "io.safetensors");
        Python("export", weights, io);
        var data = ModelFile.Read<float>(io).Tensors;

        // nn.Sequential(Linear(6, 8), BatchNorm1d(8), ReLU(), Dropout(0.2), Linear(8, 5), Tanh(), Linear(5, 3), Softmax(dim=1))
        var model = Model.Sequential<float>(6).Dense(8, useBias: true).BatchNorm().ReLU().Dropout(keepProb: 0.8).Dense(5, Activation.Tanh).Dense(3).Softmax().Build(seed: 1);
        var report = model.LoadWeights(weights);
        report.IsExactMatch.Should().BeTrue(report.ToString());
        report.Ignored.Should().Equal("1.num_batches_tracked");
        Close(model.Predict(data["x"]).ReadOnlySpan.ToArray().Select(v => (double)v), data["y"], 1e-6);

        var asDouble = Model.Sequential<double>(6).Dense(8, useBias: true).BatchNorm().ReLU().Dropout(0.8).Dense(5).Tanh().Dense(3).Softmax().Build();
        asDouble.LoadWeights(weights).IsExactMatch.Should().BeTrue();
        Close(asDouble.Predict(data["x"].ConvertTo<double>()).ReadOnlySpan.ToArray(), data["y"], 1e-6);
    }

    [TorchFact]
    public void A_model_saved_here_loads_strictly_into_the_equivalent_nn_Sequential_and_predicts_the_same()
    {
        var model = Model.Sequential<float>(5).Dense(8).BatchNorm().ReLU().Dense(6, Activation.Tanh).Dense(4, Activation.LeakyReLU).Dense(3).Softmax().Build(seed: 3);
        var (x, y) = TestData.Problem<float>(32, 5, 3, "softmax", seed: 4);
        for (int i = 0; i < 3; i++)
        {
            model.ComputeGradients(x, y); // running statistics move away from 0 and 1
        }

        model.Parameters.Select(p => p.Name).Should().Equal("0.weight", "1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias", "7.weight", "7.bias");
        string weights = Path.Combine(_dir, "ours.safetensors");
        string input = Path.Combine(_dir, "x.safetensors");
        string output = Path.Combine(_dir, "y.safetensors");
        model.Save(weights);
        var probe = x.Rows(0, 9).Clone();
        ModelFile.Write(input, [("x", probe)], new Dictionary<string, string>());
        Python("predict", weights, input, output);
        Close(model.Predict(probe).ReadOnlySpan.ToArray().Select(v => (double)v), ModelFile.Read<float>(output).Tensors["y"], 1e-6);
    }

    private static void Close(IEnumerable<double> ours, Tensor<float> theirs, double tolerance)
    {
        var a = ours.ToArray();
        var b = theirs.ReadOnlySpan.ToArray();
        a.Should().HaveCount(b.Length);
        for (int i = 0; i < a.Length; i++)
        {
            Math.Abs(a[i] - b[i]).Should().BeLessThan(tolerance, $"output {i}: ours {a[i]}, PyTorch {b[i]}");
        }
    }
}
