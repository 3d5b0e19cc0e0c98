using System.Text;

namespace DeepLearning;

/// <summary>
/// The one way the library writes files: to a temporary file in the target's folder, flushed to disk, then
/// renamed over the target. A crash or an exception mid-write never leaves a half-written file in place of a
/// good one, and the temporary file is removed on failure. A read-only target is refused
/// (<see cref="UnauthorizedAccessException"/>) rather than replaced.
/// </summary>
/// <remarks>
/// <para>The temporary file is named <c>.&lt;target name&gt;.&lt;32 hex digits&gt;.tmp</c> in the target's folder and is
/// held with an exclusive lock while it is written. A process killed mid-save (kill -9, power loss) cannot remove
/// its temporary file, so each save first deletes the stale temporary files of the same target: those with exactly
/// that name pattern, not modified for <see cref="StaleAfter"/>, and not locked by a writer that is still alive
/// (a file that cannot be opened exclusively is left alone). Temporary files of other targets are never touched.
/// Clean-up is best effort: a file that cannot be deleted is left for a later save and never fails this one.</para>
/// <para>Durability: the new contents are flushed to disk (fsync) before the rename, so after a crash or power loss the
/// target holds either the previous file or the new one in full, never a mix. The folder entry itself is not fsynced
/// (.NET cannot open a folder for that without native code), so a power loss in the moment after a save returns may
/// leave the previous version in place on some file systems; a journaling file system (ext4, XFS, NTFS) commits the
/// rename within seconds.</para>
/// </remarks>
internal static class AtomicFile
{
    /// <summary>How long a temporary file must have gone unmodified before a later save may delete it.</summary>
    internal static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(10);

    private const int TokenLength = 32;

    /// <summary>Writes <paramref name="contents"/> as UTF-8 without a byte-order mark.</summary>
    public static void WriteAllText(string path, string contents, bool createDirectory = true) =>
        Write(path, s => s.Write(new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(contents)), createDirectory);

    /// <summary>Writes whatever <paramref name="write"/> puts into the stream.</summary>
    /// <param name="path">The target file.</param>
    /// <param name="write">Fills the temporary file.</param>
    /// <param name="createDirectory">Create a missing folder (true) or fail naming it (false).</param>
    public static void Write(string path, Action<Stream> write, bool createDirectory = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"cannot save '{path}': it has no folder", nameof(path));
        CheckTarget(path, full, "save");
        if (!Directory.Exists(directory))
        {
            if (!createDirectory)
            {
                throw new DirectoryNotFoundException($"cannot save '{path}': folder '{directory}' does not exist");
            }

            Directory.CreateDirectory(directory);
        }

        string name = Path.GetFileName(full);
        DeleteStaleTemporaryFiles(directory, name);

        // Same folder as the target, so the final rename never crosses file systems.
        string temp = Path.Combine(directory, TemporaryName(name, Guid.NewGuid().ToString("N")));
        try
        {
            // FileShare.None takes an exclusive lock (an advisory flock on Unix), which tells a concurrent clean-up
            // that this writer is alive.
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
                if (!OperatingSystem.IsWindows())
                {
                    // Keep the lock through the rename where an open file may be renamed.
                    File.Move(temp, full, overwrite: true);
                }
            }

            if (OperatingSystem.IsWindows())
            {
                File.Move(temp, full, overwrite: true);
            }
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>
    /// Refuses a target that is a folder, or a read-only file: the rename would replace a read-only file without
    /// asking (on Unix it needs write access to the folder only), so a file the user protected is refused, as
    /// File.WriteAllBytes and Windows refuse it. <paramref name="verb"/> completes "cannot … '<paramref name="path"/>'".
    /// </summary>
    internal static void CheckTarget(string path, string full, string verb)
    {
        if (Directory.Exists(full) || Path.EndsInDirectorySeparator(full))
        {
            throw new IOException($"cannot {verb} '{path}': it is a folder");
        }

        if (File.Exists(full) && (File.GetAttributes(full) & FileAttributes.ReadOnly) != 0)
        {
            throw new UnauthorizedAccessException($"cannot {verb} '{path}': the file is read-only; it was left unchanged");
        }
    }

    /// <summary>Renames a finished temporary file over the target; on failure deletes it (best effort) and rethrows.</summary>
    internal static void MoveIntoPlace(string temp, string full)
    {
        try
        {
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static void TryDelete(string temp)
    {
        try
        {
            File.Delete(temp);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the original error matters more than a leftover temporary file.
        }
    }

    /// <summary>The temporary file name for <paramref name="target"/> with a 32-hex-digit token.</summary>
    internal static string TemporaryName(string target, string token) => $".{target}.{token}.tmp";

    /// <summary>
    /// Deletes the temporary files of <paramref name="target"/> in <paramref name="directory"/> left by saves that
    /// died: exact name pattern, unmodified for <see cref="StaleAfter"/>, and not locked by a live writer.
    /// </summary>
    internal static void DeleteStaleTemporaryFiles(string directory, string target)
    {
        if (target.AsSpan().IndexOfAny('*', '?') >= 0)
        {
            return; // the name would act as a wildcard in the search pattern
        }

        string prefix = $".{target}.";
        try
        {
            foreach (string file in Directory.EnumerateFiles(directory, prefix + "*.tmp", SearchOption.TopDirectoryOnly))
            {
                string fileName = Path.GetFileName(file);
                if (!IsTemporaryNameOf(fileName, prefix))
                {
                    continue; // e.g. the temporary file of a target "<target>.<suffix>"
                }

                TryDeleteStale(file);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: an unreadable folder only means nothing is cleaned up this time.
        }
    }

    private static bool IsTemporaryNameOf(string fileName, string prefix)
    {
        if (fileName.Length != prefix.Length + TokenLength + 4 || !fileName.StartsWith(prefix, StringComparison.Ordinal) || !fileName.EndsWith(".tmp", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (char c in fileName.AsSpan(prefix.Length, TokenLength))
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private static void TryDeleteStale(string file)
    {
        try
        {
            // The age test closes the instant between a writer's open and its lock; the lock test protects a live
            // writer that is slow to write.
            if (DateTime.UtcNow - File.GetLastWriteTimeUtc(file) < StaleAfter)
            {
                return;
            }

            using var probe = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Locked by a live writer, already gone, or not ours to delete: leave it.
        }
    }
}
