using System.Globalization;
using System.Text;

namespace DeepLearning;

/// <summary>
/// A ready-made, synchronous progress reporter for <see cref="TrainingOptions{T}.Progress"/> (what
/// <see cref="TrainingOptions{T}.Verbose"/> uses). On a terminal it keeps one live line updated after every mini-batch;
/// when output is redirected (a log file, CI) it writes one line per epoch. Each epoch line has the epoch, seconds,
/// cost, the training metric (accuracy, or RMSE for a regression), the dev cost and metric when there is a dev set,
/// and the learning rate α. It writes on the training thread, so every line is out before <c>Fit</c> returns
/// (unlike <see cref="Progress{T}"/>, which posts to the thread pool).
/// </summary>
public sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    private readonly TextWriter _writer;
    private readonly bool _live;
    private int _liveLength;

    /// <summary>Creates the reporter.</summary>
    /// <param name="writer">Where to write; <see cref="Console.Out"/> by default.</param>
    /// <param name="live">Whether to redraw a live line per mini-batch; by default only when the console output is not redirected.</param>
    /// <param name="metricName">The metric's name in the lines ("accuracy" by default; the fit loop passes "rmse" for a regression).</param>
    public ConsoleProgress(TextWriter? writer = null, bool? live = null, string metricName = "accuracy")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(metricName);
        _writer = writer ?? Console.Out;
        _live = live ?? (writer is null && !Console.IsOutputRedirected);
        MetricName = metricName;
    }

    /// <summary>Whether a live line is redrawn after every mini-batch.</summary>
    public bool Live => _live;

    /// <summary>The metric's name used in the lines.</summary>
    public string MetricName { get; }

    /// <inheritdoc/>
    public void Report(TrainingProgress value)
    {
        var inv = CultureInfo.InvariantCulture;
        if (value.Record is not { } e)
        {
            if (_live)
            {
                string batches = value.BatchesPerEpoch > 0 ? $"/{value.BatchesPerEpoch}" : string.Empty;
                Redraw(string.Create(inv, $"epoch {value.Epoch}/{value.Epochs}  batch {value.Batch}{batches}  cost {value.Cost:F4}"), newline: false);
            }

            return;
        }

        Redraw(FormatEpoch(e, value.Epochs, MetricName), newline: true);
    }

    /// <summary>The one-line text of an epoch, e.g. <c>epoch 3/40  0.12 s  cost 0.1234  accuracy 97.10%  dev cost 0.1021  dev accuracy 96.67%  α 0.0019</c>.</summary>
    /// <param name="e">The epoch's record.</param>
    /// <param name="epochs">The planned number of epochs.</param>
    /// <param name="metricName">The metric's name ("accuracy" is shown as a percentage).</param>
    /// <returns>The line.</returns>
    public static string FormatEpoch(EpochRecord e, int epochs, string metricName)
    {
        ArgumentNullException.ThrowIfNull(e);
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(inv, $"epoch {e.Epoch}/{epochs}  {e.Seconds:F2} s  cost {e.Cost:F4}");
        if (e.TrainMetric is { } t)
        {
            sb.Append(inv, $"  {metricName} {Metric(t, metricName)}");
        }

        if (e.DevCost is { } dc)
        {
            sb.Append(inv, $"  dev cost {dc:F4}");
        }

        if (e.DevMetric is { } dm)
        {
            sb.Append(inv, $"  dev {metricName} {Metric(dm, metricName)}");
        }

        sb.Append(inv, $"  α {e.LearningRate:G4}");
        return sb.ToString();
    }

    private static string Metric(double v, string name) =>
        name == "accuracy" ? (100 * v).ToString("F2", CultureInfo.InvariantCulture) + "%" : v.ToString("G5", CultureInfo.InvariantCulture);

    private void Redraw(string text, bool newline)
    {
        if (_live)
        {
            // Carriage return, the new text, and blanks over whatever the previous live line left.
            _writer.Write('\r');
            _writer.Write(text);
            if (_liveLength > text.Length)
            {
                _writer.Write(new string(' ', _liveLength - text.Length));
            }

            _liveLength = newline ? 0 : text.Length;
        }
        else
        {
            _writer.Write(text);
        }

        if (newline)
        {
            _writer.WriteLine();
        }

        _writer.Flush();
    }
}
