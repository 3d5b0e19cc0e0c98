using DeepLearning.Kernels;

namespace DeepLearning.Tests.Kernels;

/// <summary>
/// Helpers started for a call with many threads are not woken by later calls that use fewer: they stay blocked instead
/// of spinning against the participants (on a 2-core machine, 1024³ at two threads ran at half speed after one call at 16).
/// </summary>
public class GemmPoolWakeTests
{
    [Fact]
    public void Helpers_outside_a_jobs_participants_stay_blocked_and_are_never_woken()
    {
        var pool = new GemmThreadPool();
        pool.TryAcquire().Should().BeTrue();
        try
        {
            var wide = new Count(8);
            pool.Run(wide, 8); // starts helpers 1..7
            wide.Ran.Should().Be(8);

            // Helpers 2..7 block once their spin after that call ends (or at once on seeing a job they are not part of),
            // and every pulse they got has been answered (a helper pulsed by the wide call but not yet run again still
            // reads as blocked: its wake-up would land after the counts are taken). A bound on the attempts for liveness
            // only (a spin is 20,000 short pauses): no assertion on time.
            for (int attempt = 0; Enumerable.Range(2, 6).Select(pool.HelperState).Any(s => !s.Blocked || s.Wakeups < s.Pulses); attempt++)
            {
                attempt.Should().BeLessThan(100_000, "idle helpers block");
                pool.Run(new Count(4), 2);
                Thread.Sleep(1);
            }

            var pulses = Enumerable.Range(2, 6).Select(i => pool.HelperState(i).Pulses).ToArray();
            for (int call = 0; call < 200; call++)
            {
                var narrow = new Count(4);
                pool.Run(narrow, 2);
                narrow.Ran.Should().Be(4);
            }

            Enumerable.Range(2, 6).Select(i => pool.HelperState(i)).Should().OnlyContain(s => s.Blocked);
            Enumerable.Range(2, 6).Select(i => pool.HelperState(i).Pulses).Should().Equal(pulses, "two-thread calls wake helper 1 only");

            // A wide call wakes them again (each is pulsed on its own monitor; a bound on attempts for liveness only).
            var again = new Count(8);
            pool.Run(again, 8);
            again.Ran.Should().Be(8);
            Enumerable.Range(2, 6).Select(i => pool.HelperState(i).Pulses).Should().Equal(pulses.Select(p => p + 1), "each blocked participant is pulsed once");
            for (int attempt = 0; Enumerable.Range(2, 6).Any(i => pool.HelperState(i) is var s && s.Wakeups < s.Pulses); attempt++)
            {
                attempt.Should().BeLessThan(100_000, "pulsed helpers wake");
                Thread.Sleep(1);
            }
        }
        finally
        {
            pool.Release();
        }
    }

    private sealed class Count : GemmWork
    {
        private int _ran;

        public Count(int chunks) => Chunks = chunks;

        public int Ran => Volatile.Read(ref _ran);

        protected override void RunChunk(int chunk) => Interlocked.Increment(ref _ran);
    }
}
