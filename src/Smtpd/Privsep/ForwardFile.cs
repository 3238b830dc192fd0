using System.Buffers;
using System.Text;
using Smtpd.Control;

namespace Smtpd.Privsep;

/// <summary>
/// Reads a user's <c>~/.forward</c> for the privileged helper, with whatever file identity the
/// calling thread has taken (<see cref="Mda.UserFileAccess.RunHere{T}"/>). The user controls the
/// name, so it may be anything: it is opened without blocking (a FIFO would hold the helper's
/// thread of forward reads, and every other user's mail with it, until someone writes to it),
/// only a regular file is read (<see cref="FileOwner.OpenChecked"/>), and never more than
/// <see cref="MaxSize"/> bytes (a link to /dev/zero would otherwise be read by root without end).
/// OpenSMTPD opens it the same way (O_NONBLOCK, then a check that it is a regular file).
/// </summary>
public static class ForwardFile
{
    public const int MaxSize = 64 * 1024;
    const int ENOENT = 2, ENOTDIR = 20;

    /// <summary>The text of the file; null when there is none (or it is larger than <see cref="MaxSize"/>, as before: ignored).</summary>
    /// <exception cref="IOException">It cannot be read, or is not a regular file: the recipient gets a temporary failure.</exception>
    public static string? Read(string path)
    {
        FileStream? file;
        try { (file, _, _, _) = FileOwner.OpenChecked(path, followLinks: true); }
        catch (IOException ex) when (ex.HResult is ENOENT or ENOTDIR) { return null; }
        catch (FormatException ex) { throw new IOException($"{path}: {ex.Message}"); } // ELOOP: a loop of links
        if (file is null) throw new IOException($"{path}: not a regular file");
        using (file)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxSize + 1);
            try
            {
                int total = file.ReadAtLeast(buffer.AsSpan(0, MaxSize + 1), MaxSize + 1, throwOnEndOfStream: false);
                return total > MaxSize ? null : Encoding.UTF8.GetString(buffer, 0, total);
            }
            finally { ArrayPool<byte>.Shared.Return(buffer); }
        }
    }
}
