using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace DeepLearning.Tuning.Storage.Tests;

/// <summary>
/// Real worker processes (tests/DeepLearning.Tuning.Storage.Worker, a tiny network per trial) on one study: three at
/// once, one of them SIGKILLed in the middle of a trial. Every trial must complete exactly once and the table must
/// equal a single worker's.
/// </summary>
public class MultiProcessTests
{
    private static readonly TimeSpan _patience = TimeSpan.FromMinutes(3);

    [Theory]
    [InlineData("sqlite")]
    [PostgresBackend]
    public void Three_worker_processes_one_killed_mid_trial_give_the_single_worker_table(string kind)
    {
        using var backend = new Backend(kind);

        // The reference: one worker runs the whole study alone.
        using (var single = Worker.Start(backend.Url, "single"))
        {
            single.WaitForExit();
            single.Done.Should().HaveCount(10);
        }

        // Three at once; worker 0 is killed as soon as it has claimed a trial, i.e. in the middle of it.
        using var w0 = Worker.Start(backend.Url, "multi");
        using var w1 = Worker.Start(backend.Url, "multi");
        using var w2 = Worker.Start(backend.Url, "multi");
        int killedTrial = w0.NextStart();
        w0.Kill();
        w1.WaitForExit();
        w2.WaitForExit();

        using var storage = backend.Open();
        var trials = storage.LoadTrials("multi");
        trials.Select(t => t.Config.Id).Should().Equal(Enumerable.Range(0, 10));
        trials.Should().OnlyContain(t => t.Status == StoredTrialStatus.Complete);
        var killed = trials[killedTrial];
        killed.Attempts.Should().BeGreaterThanOrEqualTo(2, "the killed worker's trial went back to the queue and ran again");
        killed.Worker.Should().NotContain($":{w0.Id}:", "a survivor reran it");

        // Exactly once: each trial's result was recorded by one worker, once, and the survivors' counts add up.
        var done = w0.Done.Concat(w1.Done).Concat(w2.Done).ToList();
        done.Should().OnlyHaveUniqueItems().And.HaveCount(10);
        done.Should().Contain(killedTrial);
        w0.Done.Should().NotContain(killedTrial);
        (w1.Summary!.Value.GetProperty("completedByThisWorker").GetInt32() + w2.Summary!.Value.GetProperty("completedByThisWorker").GetInt32())
            .Should().Be(10 - w0.Done.Count);
        w1.Summary.Value.GetProperty("finished").GetBoolean().Should().BeTrue();

        var multiTable = Tuner.LoadStudy(storage, "multi");
        var singleTable = Tuner.LoadStudy(storage, "single");
        multiTable.StopReason.Should().Be(StopReason.Completed);
        multiTable.ToTable(includeSeconds: false).Should().Be(singleTable.ToTable(includeSeconds: false));
        multiTable.Trials.Select(t => t.Round).Distinct().Should().BeEquivalentTo([0, 1], "round 1 was planned once, from round 0's results");
    }

    /// <summary>One worker process and what it printed.</summary>
    private sealed class Worker : IDisposable
    {
        private readonly Process _process;
        private readonly BlockingCollection<int> _starts = [];
        private readonly ConcurrentQueue<string> _stderr = new();
        private readonly List<int> _done = [];

        private Worker(Process process)
        {
            _process = process;
            Id = process.Id;
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    _starts.CompleteAdding();
                    return;
                }

                string[] parts = e.Data.Split(' ');
                if (parts[0] == "start")
                {
                    _starts.Add(int.Parse(parts[1], CultureInfo.InvariantCulture));
                }
                else if (parts[0] == "done")
                {
                    lock (_done)
                    {
                        _done.Add(int.Parse(parts[1], CultureInfo.InvariantCulture));
                    }
                }
                else if (e.Data.StartsWith('{'))
                {
                    Summary = JsonDocument.Parse(e.Data).RootElement.Clone();
                }
            };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    _stderr.Enqueue(e.Data);
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public int Id { get; }

        public JsonElement? Summary { get; private set; }

        public IReadOnlyList<int> Done
        {
            get
            {
                lock (_done)
                {
                    return [.. _done];
                }
            }
        }

        public static Worker Start(string url, string study)
        {
            var info = new ProcessStartInfo(DotnetHost())
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string a in new[]
            {
                WorkerPath(), "--storage", url, "--study", study, "--trials", "5", "--rounds", "2",
                "--delay-ms", "300", "--heartbeat-ms", "100", "--stale-ms", "1500", "--poll-ms", "50",
            })
            {
                info.ArgumentList.Add(a);
            }

            return new Worker(Process.Start(info)!);
        }

        /// <summary>Waits for the next "start" line and returns its trial id.</summary>
        public int NextStart()
        {
            if (!_starts.TryTake(out int id, _patience))
            {
                throw new TimeoutException($"worker {Id} started no further trial within {_patience}; stderr: {string.Join('\n', _stderr)}");
            }

            return id;
        }

        public void Kill() => _process.Kill(); // SIGKILL on Unix: no cleanup, no release, no last heartbeat.

        public void WaitForExit()
        {
            if (!_process.WaitForExit(_patience))
            {
                _process.Kill();
                throw new TimeoutException($"worker {Id} did not finish within {_patience}");
            }

            _process.WaitForExit(); // drains the output handlers
            _process.ExitCode.Should().Be(0, "stderr: " + string.Join('\n', _stderr));
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit();
            }

            _process.Dispose();
            _starts.Dispose();
        }

        private static string DotnetHost() =>
            Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";

        // The worker is built beside this test project, in the same configuration (see the ProjectReference).
        private static string WorkerPath()
        {
            string here = AppContext.BaseDirectory;
            const string tests = "DeepLearning.Tuning.Storage.Tests";
            int at = here.LastIndexOf(tests, StringComparison.Ordinal);
            string path = Path.Combine(
                here[..at] + "DeepLearning.Tuning.Storage.Worker" + here[(at + tests.Length)..],
                "DeepLearning.Tuning.Storage.Worker.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"the test worker is not built at {path}; build tests/DeepLearning.Tuning.Storage.Tests");
        }
    }
}
