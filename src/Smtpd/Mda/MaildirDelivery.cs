using System.Net;
using System.Threading;

namespace Smtpd.Mda;

/// <summary>
/// Delivers into a Maildir (https://cr.yp.to/proto/maildir.html): the message is written to
/// <c>tmp/</c> under a unique name, made durable, then moved to <c>new/</c> and the move made
/// durable, so a reader never sees a partial message and a crash never loses an acknowledged one.
/// Both flushes go through the filesystem's <see cref="GroupSync"/>, shared by concurrent deliveries.
/// Runs with the recipient's file identity (see <see cref="UserFileAccess"/>).
/// </summary>
public sealed class MaildirDelivery : IMailboxDelivery
{
    const UnixFileMode DirMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    static long _sequence;
    static readonly string Host = SafeHostName();

    public async Task<Outcome> DeliverAsync(DeliveryRequest request, CancellationToken ct)
    {
        try
        {
            // The spool is ours alone: open the message here and hand the open file to the
            // code running as the user (OpenSMTPD passes a file descriptor the same way).
            await using var source = request.OpenMessage();
            var written = await UserFileAccess.RunAsync(request.User, () => WriteTmp(request, source));
            try
            {
                // The text durable before its name appears in new/...
                await written.Sync.FlushAsync();
                await UserFileAccess.RunAsync(request.User, () => { FileRename.Rename(written.Tmp, written.New); return true; });
            }
            catch
            {
                await UserFileAccess.RunAsync(request.User, () => { try { File.Delete(written.Tmp); } catch (IOException) { } return true; });
                throw;
            }
            // ...and the name durable before the queue forgets the message.
            await written.Sync.FlushAsync();
            return Outcome.Ok("Delivered");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A full disk, a quota, a permission problem the admin can fix: try again later.
            return Outcome.TempFail($"maildir {SystemErrors.Describe(ex, request.Target)}");
        }
    }

    /// <summary>A message written in tmp/, the name it takes in new/, and its filesystem's group commit.</summary>
    sealed record Written(string Tmp, string New, GroupSync Sync);

    static Written WriteTmp(DeliveryRequest r, Stream source)
    {
        string tmpDir = Path.Combine(r.Target, "tmp"), newDir = Path.Combine(r.Target, "new");
        string name = UniqueName();
        string tmp = Path.Combine(tmpDir, name);
        try
        {
            long size;
            using (var target = CreateTmp(tmp, r.Target))
            {
                byte[] headers = DeliveredMessage.Headers(r);
                target.Write(headers);
                size = headers.Length + DeliveredMessage.CopyAsLf(source, target, escapeFrom: false);
            }
            return new Written(tmp, Path.Combine(newDir, $"{name},S={size}"), GroupSync.For(newDir));
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>
    /// The new file in tmp/, mail being private: 0600, whatever the umask. The Maildir (and its
    /// tmp/, new/ and cur/) is made only when it is missing, not looked at for every message.
    /// </summary>
    static FileStream CreateTmp(string tmp, string maildir)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            BufferSize = 0, // CopyAsLf writes whole chunks
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        try { return new FileStream(tmp, options); }
        // ENOENT on a create is a missing directory, but .NET names it FileNotFound when the
        // directory exists by the time it looks (another delivery has just made it).
        catch (IOException e) when (e is DirectoryNotFoundException or FileNotFoundException)
        {
            // tmp/ last: a concurrent delivery that finds tmp/ must also find new/ and cur/.
            foreach (var dir in new[] { maildir, Path.Combine(maildir, "new"), Path.Combine(maildir, "cur"), Path.Combine(maildir, "tmp") })
                Directory.CreateDirectory(dir, DirMode);
            return new FileStream(tmp, options);
        }
    }

    /// <summary>time.M&lt;µs&gt;P&lt;pid&gt;Q&lt;seq&gt;.host: unique per delivery, as the Maildir spec asks.</summary>
    static string UniqueName()
    {
        // Wall-clock time by format (the Maildir name), in a delivery process: the system's clock.
        var now = TimeProvider.System.GetUtcNow();
        long micros = now.ToUnixTimeMilliseconds() % 1000 * 1000 + now.Ticks / 10 % 1000;
        return $"{now.ToUnixTimeSeconds()}.M{micros}P{Environment.ProcessId}Q{Interlocked.Increment(ref _sequence)}.{Host}";
    }

    /// <summary>The host name with '/' and ':' replaced, as the spec requires.</summary>
    static string SafeHostName()
    {
        string h;
        try { h = Dns.GetHostName(); } catch (System.Net.Sockets.SocketException) { h = "localhost"; }
        return h.Replace("/", "\\057").Replace(":", "\\072");
    }
}
