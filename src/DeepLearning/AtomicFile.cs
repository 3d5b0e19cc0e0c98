using System.Text;

namespace DeepLearning;

/// <summary>
/// The one way the library writes files: to a temporary file in the target's folder, flushed to disk, then
/// renamed over the target. A crash or an exception mid-write never leaves a half-written file in place of a
/// good one, and the temporary file is removed on failure.
/// </summary>
internal static class AtomicFile
{
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
        if (Directory.Exists(full))
        {
            throw new IOException($"cannot save '{path}': it is a folder");
        }

        if (!Directory.Exists(directory))
        {
            if (!createDirectory)
            {
                throw new DirectoryNotFoundException($"cannot save '{path}': folder '{directory}' does not exist");
            }

            Directory.CreateDirectory(directory);
        }

        // Same folder as the target, so the final rename never crosses file systems.
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temp);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Best effort: the original error matters more than a leftover temporary file.
            }

            throw;
        }
    }
}
