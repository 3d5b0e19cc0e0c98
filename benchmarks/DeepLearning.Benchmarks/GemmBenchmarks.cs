using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using DeepLearning.Kernels;
using MathNet.Numerics.LinearAlgebra;

namespace DeepLearning.Benchmarks;

/// <summary>
/// sgemm/dgemm: our <see cref="Gemm"/> vs the scalar <see cref="GemmReference"/> vs MathNet.Numerics' managed
/// multiply, on square sizes and the MLP shapes. Columns: time, GFLOP/s, allocated bytes.
/// Run: <c>dotnet run -c Release --project benchmarks/DeepLearning.Benchmarks -- --filter *Gemm*</c>.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(GflopsConfig))]
public class GemmBenchmarks
{
    private float[] _a = Array.Empty<float>(), _b = Array.Empty<float>(), _c = Array.Empty<float>();
    private double[] _ad = Array.Empty<double>(), _bd = Array.Empty<double>(), _cd = Array.Empty<double>();
    private Matrix<float>? _ma, _mb, _mc;

    /// <summary>The case: "m,n,k,ops" (ops = NN, NT, TN).</summary>
    [Params("128,128,128,NN", "256,256,256,NN", "512,512,512,NN", "1024,1024,1024,NN", "2048,2048,2048,NN",
        "64,256,784,NT", "256,256,784,NT", "256,784,64,TN", "64,784,256,NN", "64,10,128,NT")]
    public string Case { get; set; } = "128,128,128,NN";

    /// <summary>Threads for our GEMM.</summary>
    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    private int M => int.Parse(Case.Split(',')[0]);

    private int N => int.Parse(Case.Split(',')[1]);

    private int K => int.Parse(Case.Split(',')[2]);

    private Transpose TA => Case.Split(',')[3][0] == 'T' ? Transpose.Transposed : Transpose.None;

    private Transpose TB => Case.Split(',')[3][1] == 'T' ? Transpose.Transposed : Transpose.None;

    /// <summary>Allocates and fills the operands.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        _a = Enumerable.Range(0, M * K).Select(_ => (float)rng.NextDouble()).ToArray();
        _b = Enumerable.Range(0, K * N).Select(_ => (float)rng.NextDouble()).ToArray();
        _c = new float[M * N];
        _ad = _a.Select(x => (double)x).ToArray();
        _bd = _b.Select(x => (double)x).ToArray();
        _cd = new double[M * N];
        _ma = Matrix<float>.Build.Dense(M, K, (i, j) => _a[(i * K) + j]);
        _mb = Matrix<float>.Build.Dense(K, N, (i, j) => _b[(i * N) + j]);
        _mc = Matrix<float>.Build.Dense(M, N);
        Gemm.MaxThreads = Threads;
    }

    /// <summary>Our sgemm.</summary>
    [Benchmark(Baseline = true)]
    public void Sgemm() => Gemm.Multiply(TA, TB, M, N, K, 1f, _a, TA == Transpose.None ? K : M, _b, TB == Transpose.None ? N : K, 0f, _c, N);

    /// <summary>Our dgemm.</summary>
    [Benchmark]
    public void Dgemm() => Gemm.Multiply(TA, TB, M, N, K, 1.0, _ad, TA == Transpose.None ? K : M, _bd, TB == Transpose.None ? N : K, 0.0, _cd, N);

    /// <summary>The scalar reference (only up to 512, it is slow).</summary>
    [Benchmark]
    public void Reference()
    {
        if ((long)M * N * K <= 512L * 512 * 512)
        {
            GemmReference.Multiply(TA, TB, M, N, K, 1f, _a, TA == Transpose.None ? K : M, _b, TB == Transpose.None ? N : K, 0f, _c, N);
        }
    }

    /// <summary>MathNet.Numerics' managed multiply (op(A)·op(B) with its default managed provider).</summary>
    [Benchmark]
    public void MathNet()
    {
        if (TA == Transpose.None && TB == Transpose.None)
        {
            _ma!.Multiply(_mb!, _mc!);
        }
        else if (TB == Transpose.Transposed)
        {
            _ma!.TransposeAndMultiply(_mb!, _mc!);
        }
        else
        {
            _ma!.TransposeThisAndMultiply(_mb!, _mc!);
        }
    }

    private sealed class GflopsConfig : ManualConfig
    {
        public GflopsConfig() => AddColumn(new GflopsColumn());
    }

    private sealed class GflopsColumn : IColumn
    {
        public string Id => "GFLOPs";

        public string ColumnName => "GFLOP/s";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "2·m·n·k / mean time";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is null)
            {
                return "-";
            }

            string[] parts = ((string)benchmarkCase.Parameters["Case"]).Split(',');
            double flops = 2.0 * double.Parse(parts[0]) * double.Parse(parts[1]) * double.Parse(parts[2]);
            return (flops / report.ResultStatistics.Mean).ToString("F1");
        }

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }
}
