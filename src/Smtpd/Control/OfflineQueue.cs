using System.Text;

namespace Smtpd.Control;

/// <summary>
/// Mail submitted while the daemon was down (seed 004: "enqueue offline mails"): kept in
/// <c>SPOOL/offline/</c>, one file each, as "sender" and "recipients" lines, a blank line, then
/// the message; enqueued by the daemon when it starts and, while it runs, as soon as a file
/// appears (<see cref="OfflineWatcher"/>), then removed. As smtpd.c's offline_enqueue, a file
/// must be a regular file with one link, and its owner is the sender unless the owner is trusted:
/// anyone may write into the directory. A flush first claims a file by renaming it to
/// <c>NAME.sending</c>, so that two flushes never send one file twice.
/// </summary>
public static class OfflineQueue
{
    public static string Directory(string spool) => Path.Combine(spool, "offline");

    /// <summary>Writes a message for later (fsync'd: the user was told it is taken care of).</summary>
    public static string Write(string spool, string sender, IReadOnlyList<string> recipients, byte[] message)
    {
        string dir = Directory(spool);
        string path = Path.Combine(dir, $"{TimeProvider.System.GetUtcNow().ToUnixTimeSeconds()}.{Guid.NewGuid():N}");
        using (var f = new FileStream(path + ".tmp", Queue.SpoolModes.NewFile(FileMode.CreateNew)))
        {
            f.Write(Encoding.UTF8.GetBytes($"{sender}\n{string.Join(' ', recipients)}\n\n"));
            f.Write(message);
            f.Flush(flushToDisk: true);
        }
        File.Move(path + ".tmp", path);
        return path;
    }

    /// <summary>The sender and recipients lines, and the stream left at the message (disposed on a bad header).</summary>
    public static (string Sender, string[] Recipients, Stream Message) Read(Stream f)
    {
        try
        {
            string sender = ReadLine(f), recipients = ReadLine(f);
            if (ReadLine(f).Length != 0) throw new FormatException("bad offline message header");
            return (sender, recipients.Split(' ', StringSplitOptions.RemoveEmptyEntries), f);
        }
        catch
        {
            f.Dispose();
            throw;
        }
    }

    static string ReadLine(Stream s)
    {
        var bytes = new List<byte>();
        int b;
        while ((b = s.ReadByte()) >= 0 && b != '\n') { bytes.Add((byte)b); if (bytes.Count > 100_000) throw new FormatException("line too long"); }
        if (b < 0) throw new FormatException("truncated offline message");
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    const string Sending = ".sending";

    /// <summary>
    /// Enqueues every offline message through the daemon's own control socket. With
    /// <paramref name="recover"/> (at start, before any other flush), also the files a flush had
    /// claimed when the daemon died: sent again, as a duplicate is better than a loss.
    /// </summary>
    public static async Task FlushAsync(string spool, string socketPath, SmtpdLog log, bool recover, CancellationToken ct)
    {
        string dir = Directory(spool);
        if (!System.IO.Directory.Exists(dir)) return;
        var names = System.IO.Directory.GetFiles(dir)
            .Where(p => !p.EndsWith(".tmp", StringComparison.Ordinal) && !p.EndsWith(".bad", StringComparison.Ordinal)
                && (recover || !p.EndsWith(Sending, StringComparison.Ordinal)));
        foreach (string found in names.Order())
        {
            string path = found.EndsWith(Sending, StringComparison.Ordinal) ? found[..^Sending.Length] : found;
            try
            {
                if (!found.EndsWith(Sending, StringComparison.Ordinal))
                {
                    try { File.Move(found, path + Sending); }
                    catch (FileNotFoundException) { continue; } // another flush took it
                }
                // Opened once, without following a symlink, and checked on the open file: the
                // directory is world-writable and this may run as root.
                var (file, owner, links, regular) = FileOwner.OpenNoFollow(path + Sending);
                if (file is null || links != 1) { file?.Dispose(); throw new FormatException(regular ? "hard link" : "not a regular file"); }
                var (sender, recipients, message) = Read(file);
                if (LocalSender.BoundSender(owner) is { } bound && !bound.Equals(sender, StringComparison.OrdinalIgnoreCase))
                {
                    log.Info($"info: offline message {Path.GetFileName(path)}: sender <{sender}> of uid {owner} replaced by <{bound}>");
                    sender = bound;
                }
                await using (message)
                {
                    string reply = await LocalSubmission.SubmitAsync(socketPath, sender, recipients, message, ct);
                    log.Info($"info: offline message {Path.GetFileName(path)} enqueued: {reply}");
                }
                File.Delete(path + Sending);
            }
            catch (Exception ex) when (ex is FormatException or InvalidOperationException)
            {
                log.Warn($"offline message {Path.GetFileName(path)} refused ({ex.Message}); moved aside");
                File.Move(path + Sending, path + ".bad", overwrite: true);
            }
            catch (Exception ex) when (ex is IOException or LocalSubmission.NotRunningException or System.Net.Sockets.SocketException)
            {
                log.Warn($"offline message {Path.GetFileName(path)}: {SystemErrors.Describe(ex)}; tried again later");
                try { File.Move(path + Sending, path); } catch (IOException) { } // retried by the next flush
            }
        }
    }
}
