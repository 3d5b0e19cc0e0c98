using System.Globalization;

namespace DeepLearning;

/// <summary>
/// A file's length and last-write time, taken when a streaming source is opened and compared each time an epoch
/// reopens the file: a file rewritten, appended to or truncated between epochs would otherwise feed the next epoch other
/// rows (misaligned, rescaled, or more or fewer than the source reports) without a word.
/// </summary>
internal readonly record struct FileFingerprint(long Length, DateTime LastWriteUtc)
{
    /// <summary>
    /// The fingerprint of the file behind an open handle: the file actually being read, even if the path has since been
    /// replaced (an atomic rename between a check by path and the open would otherwise go unnoticed).
    /// </summary>
    public static FileFingerprint Of(FileStream stream) => new(stream.Length, File.GetLastWriteTimeUtc(stream.SafeFileHandle));

    /// <summary>
    /// Throws unless the file open as <paramref name="stream"/> (named <paramref name="path"/> in the message) has this
    /// length and last-write time. Compare after opening, so the rows read are the ones checked.
    /// </summary>
    /// <exception cref="InvalidDataException">The open file differs from the fingerprint.</exception>
    public void Check(string path, FileStream stream) => Compare(path, Of(stream));

    /// <summary>
    /// Opens a file of a streaming source again with <paramref name="open"/>, reporting a file that no longer exists as
    /// removed since it was opened; compare the fingerprint with <see cref="Check(string, FileStream)"/> afterwards.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file no longer exists.</exception>
    public static TFile Reopen<TFile>(string path, Func<string, TFile> open)
    {
        try
        {
            return open(path);
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"'{path}' was removed since it was opened for streaming", path, e);
        }
    }

    private void Compare(string path, FileFingerprint now)
    {
        if (now != this)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"'{path}' changed since it was opened for streaming ({Length} bytes, last written {LastWriteUtc:yyyy-MM-dd HH:mm:ss.fffffff}Z then; {now.Length} bytes, {now.LastWriteUtc:yyyy-MM-dd HH:mm:ss.fffffff}Z now): this epoch would read other rows than the last; open the file again to train on its new contents"));
        }
    }
}
