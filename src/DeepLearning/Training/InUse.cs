using System.Runtime.CompilerServices;

namespace DeepLearning;

/// <summary>
/// The models, options, optimizers and stateful callbacks held by a running Fit (or a model checked in place by
/// <see cref="GradientChecker"/>), on any thread, with the thread that holds each: a second Fit or gradient check of the
/// same object is refused, and so is a <see cref="Model{T}.Save"/> from another thread while the weights are changing.
/// </summary>
internal static class InUse
{
    /// <summary>The activity a Fit claims with.</summary>
    public const string Fit = "a Fit";

    private static readonly ConditionalWeakTable<object, Holder> _held = [];

    /// <summary>
    /// Claims <paramref name="thing"/> for <paramref name="activity"/> ("a Fit", "a gradient check") on this thread.
    /// </summary>
    /// <exception cref="InvalidOperationException">Something holds it already (on this thread or another).</exception>
    public static void Claim(object thing, string activity, string what, string advice)
    {
        if (!_held.TryAdd(thing, new Holder(activity, Environment.CurrentManagedThreadId)))
        {
            string by = _held.TryGetValue(thing, out var holder) ? holder.Activity : "another run";
            throw new InvalidOperationException($"{what} already in use by {by} that has not returned (on another thread, or {activity} called from a callback); {advice}");
        }
    }

    /// <summary>Gives back a claim this thread made with <see cref="Claim"/>.</summary>
    public static void Release(object thing) => _held.Remove(thing);

    /// <summary>Whether this thread holds <paramref name="thing"/> for <paramref name="activity"/> (e.g. "a Fit": a callback of the Fit running on it).</summary>
    public static bool HeldByThisThread(object thing, string activity) =>
        _held.TryGetValue(thing, out var holder) && holder.ThreadId == Environment.CurrentManagedThreadId && holder.Activity == activity;

    /// <summary>What holds <paramref name="thing"/> on another thread ("a Fit", "a gradient check"), or null.</summary>
    public static string? HeldByAnotherThread(object thing) =>
        _held.TryGetValue(thing, out var holder) && holder.ThreadId != Environment.CurrentManagedThreadId ? holder.Activity : null;

    private sealed record Holder(string Activity, int ThreadId);
}
