using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace DeepLearning.Kernels;

/// <summary>
/// A parallel step split into chunks that participants claim from a shared word. The word carries the step's
/// generation, so a late participant can never claim a chunk of a newer step by mistake.
/// </summary>
/// <remarks>
/// With at most <see cref="AffinityChunks"/> chunks, the word's low half is a bitmask of claimed chunks and participant
/// p of P first takes its own share [p·C/P, (p+1)·C/P) in order, then steals what is left. Each core then keeps
/// working on the same part of C (the same rows of W, dW and the optimizer state) from one call to the next, so that
/// part stays in its own caches: on machines whose cores share no cache (here a line crossing cores costs ~250 ns)
/// this decides whether two threads are faster than one. Stealing keeps the other promise: nobody waits for a
/// participant that has not started. With more chunks, the low half is the next chunk to claim, in order.
/// </remarks>
internal abstract class GemmWork
{
    /// <summary>Most chunks claimed by participant affinity (one bit each).</summary>
    public const int AffinityChunks = 32;

    private long _word;
    private int _done;
    private int _participants = 1;
    private Exception? _failure;

    /// <summary>Chunks in the current step.</summary>
    public int Chunks { get; set; }

    /// <summary>Opens step <paramref name="generation"/> for <paramref name="participants"/> with no chunk claimed yet.</summary>
    public void Open(long generation, int participants)
    {
        _failure = null;
        _participants = Math.Max(1, participants);
        Volatile.Write(ref _done, 0);
        Volatile.Write(ref _word, (long)(uint)generation << 32);
    }

    /// <summary>
    /// Marks step <paramref name="generation"/> exhausted once it is complete. A helper that read the word just
    /// before the step ended can then never claim a chunk after the caller has moved on and changed
    /// <see cref="Chunks"/> or the problem for the next call: its compare-exchange fails against the closed word.
    /// </summary>
    public void Close(long generation) => Volatile.Write(ref _word, ((long)(uint)generation << 32) | uint.MaxValue);

    /// <summary>Whether every chunk of the current step has finished.</summary>
    public bool Complete => Volatile.Read(ref _done) >= Chunks;

    /// <summary>The first exception a chunk threw in the current step, if any.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>Claims and runs chunks of step <paramref name="generation"/> until none is left; <paramref name="participant"/> is 0 for the caller.</summary>
    public void Run(long generation, int participant)
    {
        uint phase = (uint)generation;
        int chunks = Chunks;
        if (chunks > AffinityChunks)
        {
            while (true)
            {
                long v = Volatile.Read(ref _word);
                if ((uint)(v >> 32) != phase || (uint)v >= (uint)chunks)
                {
                    return;
                }

                if (Interlocked.CompareExchange(ref _word, v + 1, v) == v)
                {
                    Execute((int)(uint)v);
                }
            }
        }

        // Own share first, in order; then the others' from the last chunk down, so a thief starts where the owners
        // will finish last, and each owner keeps as much of its share (and its cache) as possible.
        int self = Math.Min(participant, _participants - 1);
        int start = (int)((long)self * chunks / _participants);
        int own = (int)((long)(self + 1) * chunks / _participants) - start;
        int above = chunks - start - own;
        for (int i = 0; i < chunks; i++)
        {
            // i < own: own share upwards; then the chunks above it downwards; then those below it downwards.
            int j = i - own;
            int chunk = j < 0 ? start + i : j < above ? chunks - 1 - j : start - 1 - (j - above);

            uint bit = 1u << chunk;
            while (true)
            {
                long v = Volatile.Read(ref _word);
                if ((uint)(v >> 32) != phase || (uint)v == uint.MaxValue)
                {
                    return;
                }

                if (((uint)v & bit) != 0)
                {
                    break;
                }

                if (Interlocked.CompareExchange(ref _word, v | bit, v) == v)
                {
                    Execute(chunk);
                    break;
                }
            }
        }
    }

    /// <summary>Does chunk <paramref name="chunk"/>.</summary>
    protected abstract void RunChunk(int chunk);

    private void Execute(int chunk)
    {
        try
        {
            RunChunk(chunk);
        }
        catch (Exception ex)
        {
            Interlocked.CompareExchange(ref _failure, ex, null);
        }

        Interlocked.Increment(ref _done);
    }
}

/// <summary>
/// Work that one helper runs while the caller goes on with other work (<see cref="GemmThreadPool.TryPost"/>), e.g.
/// gathering the next mini-batch while the caller computes the small layers at the end of a step, when the second
/// core would otherwise wait. Nobody waits for a helper that has not started it: <see cref="Complete"/> runs the job on
/// the calling thread if no helper has taken it yet, so a descheduled helper costs the one-thread time, no more.
/// </summary>
internal abstract class SideJob
{
    private const int Idle = 0, Posted = 1, Running = 2, Done = 3;

    private int _state;
    private Exception? _failure;

    /// <summary>The pool the job was last posted to: <see cref="Complete"/> takes the job back out of it.</summary>
    internal GemmThreadPool? Pool { get; set; }

    /// <summary>Whether the job is posted and not yet taken by anyone.</summary>
    internal bool IsPosted => Volatile.Read(ref _state) == Posted;

    /// <summary>Whether the job has been posted and not yet completed (<see cref="Complete"/>).</summary>
    public bool IsPending => Volatile.Read(ref _state) != Idle;

    /// <summary>
    /// Waits until the posted job has run (running it on this thread if no helper has started it) and rethrows what
    /// it threw. Does nothing when nothing is pending.
    /// </summary>
    public void Complete()
    {
        if (Volatile.Read(ref _state) == Idle)
        {
            return;
        }

        TryRun();
        var spin = default(SpinWait);
        while (Volatile.Read(ref _state) != Done)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }

        // The pool's slot would otherwise keep this job, and all it references (a reader, its whole data set), alive
        // after its owner has finished with it, until another job is posted.
        Pool?.Forget(this);
        var failure = _failure;
        _failure = null;
        Volatile.Write(ref _state, Idle);
        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>Marks the job posted; it must not be pending.</summary>
    internal void MarkPosted()
    {
        if (Interlocked.CompareExchange(ref _state, Posted, Idle) != Idle)
        {
            throw new InvalidOperationException("a side job was posted again before it completed");
        }
    }

    /// <summary>Runs the job here if it is posted and nobody has taken it; false otherwise.</summary>
    internal bool TryRun()
    {
        if (Interlocked.CompareExchange(ref _state, Running, Posted) != Posted)
        {
            return false;
        }

        try
        {
            Execute();
        }
        catch (Exception ex)
        {
            _failure = ex;
        }

        Volatile.Write(ref _state, Done);
        return true;
    }

    /// <summary>The work itself; runs on whichever thread takes the job.</summary>
    protected abstract void Execute();
}

/// <summary>
/// Persistent helper threads for GEMM: the caller is participant 0 and hands work to the others without
/// allocating or creating threads. A helper spins briefly after a job it took part in (so back-to-back calls hand off
/// in well under a microsecond; helper 1, part of every parallel step and the taker of side jobs, after every job) and
/// then blocks on its own monitor, so an idle library costs no CPU. A job wakes only the helpers it uses, and a helper
/// that sees a job it is not part of (its index at or above the job's participant count) goes straight back to
/// blocking without spinning: helpers started for one call with a large
/// <see cref="Gemm.MaxThreads"/> do not compete for the cores with the participants of later, smaller calls.
/// </summary>
internal sealed class GemmThreadPool
{
    private const int SpinIterations = 20_000;

    private static GemmThreadPool? _shared;
    private static readonly object _createGate = new();

    private readonly object _gate = new();
    private readonly List<Thread> _threads = new();
    private Helper[] _helpers = []; // helper i at [i − 1]; replaced whole (under _gate) when helpers are added
    private GemmWork? _work;
    private SideJob? _side;
    private int _participants;
    private long _generation;
    private int _busy;

    /// <summary>The process-wide pool.</summary>
    public static GemmThreadPool Shared
    {
        get
        {
            if (_shared is { } pool)
            {
                return pool;
            }

            lock (_createGate)
            {
                return _shared ??= new GemmThreadPool();
            }
        }
    }

    /// <summary>Helper threads started so far (they are created on first need and kept).</summary>
    public int HelperCount
    {
        get
        {
            lock (_gate)
            {
                return _threads.Count;
            }
        }
    }

    /// <summary>Takes the pool for one call; false if another thread is using it (then run single-threaded).</summary>
    public bool TryAcquire() => Interlocked.CompareExchange(ref _busy, 1, 0) == 0;

    /// <summary>Gives the pool back after <see cref="TryAcquire"/> succeeded.</summary>
    public void Release() => Volatile.Write(ref _busy, 0);

    /// <summary>
    /// Runs one step of <paramref name="work"/> with up to <paramref name="count"/> participants (the caller and
    /// count − 1 helpers) and returns when all its chunks are done. The caller claims chunks too and waits only
    /// for chunks already claimed by a helper. The pool must be held (<see cref="TryAcquire"/>). If chunks threw, every
    /// chunk still runs, and the first exception is rethrown as it was thrown (not wrapped), as on one thread.
    /// </summary>
    public void Run(GemmWork work, int count)
    {
        EnsureHelpers(count - 1);
        long generation = _generation + 1;
        work.Open(generation, count);
        _work = work;
        Volatile.Write(ref _participants, count);
        Interlocked.Exchange(ref _generation, generation);
        Wake(count - 1);

        work.Run(generation, 0);
        var spin = default(SpinWait);
        while (!work.Complete)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }

        work.Close(generation);

        // The chunk's own exception, as a one-thread run would have thrown it (its stack trace kept).
        if (work.Failure is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>
    /// Hands <paramref name="job"/> to the first helper, to run while the caller goes on, and returns at once; the
    /// caller must later call <see cref="SideJob.Complete"/>. False (and nothing posted) when only one thread is allowed
    /// or another thread is using the pool: then the caller runs the work itself. GEMM and range steps issued in the
    /// meantime still finish: their chunks are claimed by whoever is free, the caller first.
    /// </summary>
    public bool TryPost(SideJob job)
    {
        if (Gemm.EffectiveThreads < 2 || !TryAcquire())
        {
            return false;
        }

        try
        {
            EnsureHelpers(1);
            job.Pool = this;
            job.MarkPosted();
            Volatile.Write(ref _side, job);

            // No GEMM step in this generation: the other helpers, if they see it, go back to waiting without spinning.
            Volatile.Write(ref _participants, 1);
            Interlocked.Increment(ref _generation);
            Wake(1);
        }
        finally
        {
            Release();
        }

        return true;
    }

    /// <summary>Clears the side-job slot if it still holds <paramref name="job"/> (completed by its owner).</summary>
    internal void Forget(SideJob job) => Interlocked.CompareExchange(ref _side, null, job);

    private void EnsureHelpers(int helpers)
    {
        if (_threads.Count >= helpers)
        {
            return;
        }

        lock (_gate)
        {
            while (_threads.Count < helpers)
            {
                int index = _threads.Count + 1;
                var helper = new Helper();
                var thread = new Thread(() => Loop(index, helper))
                {
                    IsBackground = true,
                    Name = $"DeepLearning GEMM helper {index}",
                };
                Volatile.Write(ref _helpers, [.. _helpers, helper]);
                _threads.Add(thread);
                thread.Start();
            }
        }
    }

    // Wakes helpers 1..count that block (a helper still spinning sees the new generation by itself). The generation was
    // published with a full fence before this reads each helper's flag, and a helper sets its flag with a full fence
    // before it reads the generation under its monitor: either it sees the new generation or this sees it asleep.
    private void Wake(int count)
    {
        var helpers = Volatile.Read(ref _helpers);
        for (int i = 0; i < count && i < helpers.Length; i++)
        {
            var helper = helpers[i];
            if (Volatile.Read(ref helper.Sleeping) != 0)
            {
                lock (helper.Gate)
                {
                    helper.Pulses++;
                    Monitor.Pulse(helper.Gate);
                }
            }
        }
    }

    // Apart from Loop, so no local of the helper's endless loop keeps the last job (and its data) reachable.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RunSideJob()
    {
        if (Volatile.Read(ref _side) is { IsPosted: true } side)
        {
            side.TryRun();
        }
    }

    private void Loop(int index, Helper self)
    {
        long seen = Volatile.Read(ref _generation);
        bool spin = true;
        while (true)
        {
            // Spin only after a job this helper took part in (the next call likely wants it too); otherwise block at once.
            int spins = spin ? 0 : SpinIterations;
            while (Volatile.Read(ref _generation) == seen)
            {
                if (++spins < SpinIterations)
                {
                    Thread.SpinWait(8);
                    continue;
                }

                lock (self.Gate)
                {
                    Interlocked.Exchange(ref self.Sleeping, 1);
                    while (Volatile.Read(ref _generation) == seen)
                    {
                        Monitor.Wait(self.Gate);
                        self.Wakeups++;
                    }

                    Volatile.Write(ref self.Sleeping, 0);
                }
            }

            seen = Volatile.Read(ref _generation);

            // Helper 1 takes the side jobs and part in every parallel step, so it always spins for the next one.
            bool participated = index == 1;
            if (index == 1)
            {
                RunSideJob();
            }

            GemmWork? work = _work;
            if (work is not null && index < Volatile.Read(ref _participants))
            {
                work.Run(seen, index);
                participated = true;
            }

            spin = participated;
        }
    }

    /// <summary>
    /// For tests: whether helper <paramref name="index"/> (from 1) blocks on its monitor, how often a job pulsed it there,
    /// and how often it returned from waiting (a pulse is counted at once, its wake-up only when the helper runs again).
    /// </summary>
    internal (bool Blocked, int Pulses, int Wakeups) HelperState(int index)
    {
        var helper = Volatile.Read(ref _helpers)[index - 1];
        lock (helper.Gate)
        {
            return (Volatile.Read(ref helper.Sleeping) != 0, helper.Pulses, helper.Wakeups);
        }
    }

    /// <summary>One helper's monitor, whether it blocks on it (so a job that uses it pulses it) and how often it woke there.</summary>
    private sealed class Helper
    {
        public readonly object Gate = new();
        public int Sleeping;
        public int Pulses; // written under Gate
        public int Wakeups; // written under Gate
    }
}

/// <summary>Aligned native scratch memory owned by one thread, grown on demand and freed with the thread.</summary>
internal sealed unsafe class GemmScratch
{
    [ThreadStatic]
    private static GemmScratch? _packA;

    [ThreadStatic]
    private static GemmScratch? _packB;

    private void* _data;
    private nuint _bytes;

    ~GemmScratch()
    {
        if (_data != null)
        {
            NativeMemory.AlignedFree(_data);
        }
    }

    /// <summary>This thread's buffer for packed A blocks.</summary>
    public static GemmScratch PackA => _packA ??= new GemmScratch();

    /// <summary>This thread's buffer for packed B blocks (shared with the helpers during a call).</summary>
    public static GemmScratch PackB => _packB ??= new GemmScratch();

    /// <summary>At least <paramref name="count"/> elements, 64-byte aligned.</summary>
    public T* Get<T>(nint count)
        where T : unmanaged
    {
        nuint bytes = (nuint)count * (nuint)sizeof(T);
        if (bytes > _bytes)
        {
            if (_data != null)
            {
                NativeMemory.AlignedFree(_data);
                _data = null;
                _bytes = 0;
            }

            _data = NativeMemory.AlignedAlloc(bytes, 64);
            _bytes = bytes;
        }

        return (T*)_data;
    }
}
