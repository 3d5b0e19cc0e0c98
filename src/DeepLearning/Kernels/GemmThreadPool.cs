using System.Runtime.InteropServices;

namespace DeepLearning.Kernels;

/// <summary>A piece of parallel work: every participant runs <see cref="Run"/> with its own index.</summary>
internal abstract class GemmWork
{
    /// <summary>Runs the part of participant <paramref name="index"/> of <paramref name="count"/>.</summary>
    public abstract void Run(int index, int count);
}

/// <summary>
/// Persistent helper threads for GEMM: the caller is participant 0 and hands work to the others without
/// allocating or creating threads. A helper spins briefly after each job (so back-to-back calls hand off in
/// well under a microsecond) and then blocks on a monitor, so an idle library costs no CPU.
/// </summary>
internal sealed class GemmThreadPool
{
    private const int SpinIterations = 20_000;

    private static GemmThreadPool? _shared;
    private static readonly object _createGate = new();

    private readonly object _gate = new();
    private readonly List<Thread> _threads = new();
    private GemmWork? _work;
    private int _participants;
    private long _generation;
    private int _pending;
    private int _sleepers;
    private int _busy;
    private Exception? _failure;

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
    /// Runs <paramref name="work"/> on <paramref name="count"/> participants (the caller as participant 0 and
    /// count − 1 helpers) and returns when all have finished. The pool must be held (<see cref="TryAcquire"/>).
    /// </summary>
    public void Run(GemmWork work, int count)
    {
        EnsureHelpers(count - 1);
        _work = work;
        _participants = count;
        _failure = null;
        Volatile.Write(ref _pending, count - 1);
        Interlocked.Increment(ref _generation);
        if (Volatile.Read(ref _sleepers) > 0)
        {
            lock (_gate)
            {
                Monitor.PulseAll(_gate);
            }
        }

        Exception? own = null;
        try
        {
            work.Run(0, count);
        }
        catch (Exception ex)
        {
            own = ex;
        }

        var spin = default(SpinWait);
        while (Volatile.Read(ref _pending) != 0)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }

        _work = null;
        Exception? failure = own ?? _failure;
        if (failure is not null)
        {
            throw new AggregateException("A GEMM participant failed", failure);
        }
    }

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
                var thread = new Thread(() => Loop(index))
                {
                    IsBackground = true,
                    Name = $"DeepLearning GEMM helper {index}",
                };
                _threads.Add(thread);
                thread.Start();
            }
        }
    }

    private void Loop(int index)
    {
        long seen = Volatile.Read(ref _generation);
        while (true)
        {
            int spins = 0;
            while (Volatile.Read(ref _generation) == seen)
            {
                if (++spins < SpinIterations)
                {
                    Thread.SpinWait(8);
                    continue;
                }

                lock (_gate)
                {
                    Interlocked.Increment(ref _sleepers);
                    while (Volatile.Read(ref _generation) == seen)
                    {
                        Monitor.Wait(_gate);
                    }

                    Interlocked.Decrement(ref _sleepers);
                }
            }

            seen = Volatile.Read(ref _generation);
            GemmWork? work = _work;
            if (work is not null && index < _participants)
            {
                try
                {
                    work.Run(index, _participants);
                }
                catch (Exception ex)
                {
                    _failure = ex;
                }

                Interlocked.Decrement(ref _pending);
            }
        }
    }
}

/// <summary>A sense-reversing spin barrier for the participants of one GEMM call.</summary>
internal sealed class GemmBarrier
{
    private int _remaining;
    private int _sense;
    private int _count;

    /// <summary>Prepares the barrier for <paramref name="count"/> participants.</summary>
    public void Reset(int count)
    {
        _count = count;
        _remaining = count;
        _sense = 0;
    }

    /// <summary>Blocks until every participant has arrived; <paramref name="localSense"/> is per participant, starting at 0.</summary>
    public void Wait(ref int localSense)
    {
        localSense ^= 1;
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _remaining = _count;
            Volatile.Write(ref _sense, localSense);
            return;
        }

        var spin = default(SpinWait);
        while (Volatile.Read(ref _sense) != localSense)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
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
