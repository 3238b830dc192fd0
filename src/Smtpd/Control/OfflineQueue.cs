using System.Text;

namespace Smtpd.Control;

/// <summary>
/// Mail submitted while the daemon was down (seed 004: "enqueue offline mails"): kept in
/// <c>SPOOL/offline/</c>, one file each, as "sender" and "recipients" lines, a blank line, then
/// the message; enqueued by the daemon when it starts, then removed. As smtpd.c's
/// offline_enqueue, a file must be a regular file with one link, and its owner is the sender
/// unless the owner is trusted: anyone may write into the directory.
/// </summary>
public static class OfflineQueue
{
    public static string Directory(string spool) => Path.Combine(spool, "offline");

    /// <summary>Writes a message for later (fsync'd: the user was told it is taken care of).</summary>
    public static string Write(string spool, string sender, IReadOnlyList<string> recipients, byte[] message)
    {
        string dir = Directory(spool);
        string path = Path.Combine(dir, $"{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}.{Guid.NewGuid():N}");
        using (var f = new FileStream(path + ".tmp", Queue.SpoolModes.NewFile(FileMode.CreateNew)))
        {
            f.Write(Encoding.UTF8.GetBytes($"{sender}\n{string.Join(' ', recipients)}\n\n"));
            f.Write(message);
            f.Flush(flushToDisk: true);
        }
        File.Move(path + ".tmp", path);
        return path;
    }

    public static (string Sender, string[] Recipients, Stream Message) Read(string path)
    {
        var f = File.OpenRead(path);
        string sender = ReadLine(f), recipients = ReadLine(f);
        if (ReadLine(f).Length != 0) throw new FormatException("bad offline message header");
        return (sender, recipients.Split(' ', StringSplitOptions.RemoveEmptyEntries), f);
    }

    static string ReadLine(Stream s)
    {
        var bytes = new List<byte>();
        int b;
        while ((b = s.ReadByte()) >= 0 && b != '\n') { bytes.Add((byte)b); if (bytes.Count > 100_000) throw new FormatException("line too long"); }
        if (b < 0) throw new FormatException("truncated offline message");
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>Enqueues every offline message through the daemon's own control socket.</summary>
    public static async Task FlushAsync(string spool, string socketPath, SmtpdLog log, CancellationToken ct)
    {
        string dir = Directory(spool);
        if (!System.IO.Directory.Exists(dir)) return;
        foreach (string path in System.IO.Directory.GetFiles(dir).Where(p => !p.EndsWith(".tmp", StringComparison.Ordinal)).Order())
        {
            try
            {
                var (owner, links, regular) = FileOwner.Of(path);
                if (!regular || links != 1) throw new FormatException(regular ? "hard link" : "not a regular file");
                var (sender, recipients, message) = Read(path);
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
                File.Delete(path);
            }
            catch (Exception ex) when (ex is FormatException or InvalidOperationException)
            {
                log.Warn($"offline message {Path.GetFileName(path)} refused ({ex.Message}); moved aside");
                File.Move(path, path + ".bad", overwrite: true);
            }
            catch (Exception ex) when (ex is IOException or LocalSubmission.NotRunningException or System.Net.Sockets.SocketException)
            {
                log.Warn($"offline message {Path.GetFileName(path)}: {SystemErrors.Describe(ex)}; will retry at next start");
            }
        }
    }
}
