using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Smtpd.Mda;

/// <summary>
/// Appends to a user's mbox in the mail spool (/var/mail/USER), as OpenSMTPD's mail.local does:
/// the mailbox is locked with a <c>USER.lock</c> dot-lock and flock(2), the message gets a
/// <c>From sender date</c> line, body lines starting "From " get a '>', a blank line ends it.
/// A failed write truncates the mailbox back to its old size, so no half message is left.
/// The spool directory belongs to root: the mailbox is created (and the dot-lock taken) as root,
/// refusing symlinks; the message itself is written with the user's identity.
/// </summary>
public sealed partial class MboxDelivery : IMailboxDelivery
{
    /// <summary>How long to wait for a mailbox someone else has locked before trying later.</summary>
    public static readonly TimeSpan LockWait = TimeSpan.FromSeconds(5);
    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Chown(string path, uint uid, uint gid);

    public async Task<Outcome> DeliverAsync(DeliveryRequest request, CancellationToken ct)
    {
        string mbox = request.Target;
        string dotlock = mbox + ".lock";
        try
        {
            var problem = PrepareMailbox(mbox, request.User);
            if (problem is not null) return problem.Value;
            if (!await TakeDotLockAsync(dotlock, ct))
                return Outcome.TempFail($"mailbox {mbox} is locked (dot-lock held)");
            try
            {
                await using var source = request.OpenMessage();
                return await UserFileAccess.RunAsync(request.User, () => Append(request, mbox, source));
            }
            finally
            {
                try { File.Delete(dotlock); } catch (IOException) { }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Outcome.TempFail($"mbox {SystemErrors.Describe(ex, mbox)}");
        }
    }

    /// <summary>Creates the mailbox (mode 0600, owned by the user) if missing; refuses a symlink or a stranger's file.</summary>
    static Outcome? PrepareMailbox(string mbox, SystemUser user)
    {
        var info = new FileInfo(mbox);
        if (info.Exists || info.LinkTarget is not null)
        {
            if (info.LinkTarget is not null) return Outcome.TempFail($"mailbox {mbox} is a symbolic link, not delivering");
            return null;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(mbox)!);
        try
        {
            using (new FileStream(mbox, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            })) { }
        }
        catch (IOException) when (File.Exists(mbox)) { return null; } // created meanwhile by another delivery
        if (SystemUsers.IsRoot && Chown(mbox, user.Uid, user.Gid) != 0)
            return Outcome.TempFail($"cannot give {mbox} to {user.Name}: errno {Marshal.GetLastPInvokeError()}");
        return null;
    }

    // Runs in a delivery process, which has no component clock to be handed: the system's, read
    // through the provider like every other time. The From_ line is local wall-clock time by format.
    static readonly TimeProvider Clock = TimeProvider.System;

    static async Task<bool> TakeDotLockAsync(string dotlock, CancellationToken ct)
    {
        var deadline = Clock.GetUtcNow() + LockWait;
        while (true)
        {
            try
            {
                using (new FileStream(dotlock, FileMode.CreateNew, FileAccess.Write)) { }
                return true;
            }
            catch (IOException) when (File.Exists(dotlock))
            {
                if (Clock.GetUtcNow() >= deadline) return false;
                await Task.Delay(TimeSpan.FromMilliseconds(100), Clock, ct);
            }
        }
    }

    static Outcome Append(DeliveryRequest r, string mbox, Stream source)
    {
        using var fs = new FileStream(mbox, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 16 * 1024);
        if (!WaitForFlock(fs)) return Outcome.TempFail($"mailbox {mbox} is locked (flock held)");
        long before = fs.Length;
        try
        {
            fs.Write(Encoding.UTF8.GetBytes(FromLine(r.Sender, Clock.GetLocalNow().DateTime)));
            fs.Write(DeliveredMessage.Headers(r));
            DeliveredMessage.CopyAsLf(source, fs, escapeFrom: true);
            fs.Write("\n"u8);
            fs.Flush(flushToDisk: true);
            return Outcome.Ok("Delivered");
        }
        catch (IOException)
        {
            fs.SetLength(before);
            throw;
        }
        finally
        {
            FileLock.Unlock(fs.SafeFileHandle);
        }
    }

    static bool WaitForFlock(FileStream fs)
    {
        var deadline = Clock.GetUtcNow() + LockWait;
        while (!FileLock.TryLockExclusive(fs.SafeFileHandle))
        {
            if (Clock.GetUtcNow() >= deadline) return false;
            Thread.Sleep(50);
        }
        return true;
    }

    /// <summary>The separator line, with ctime(3)'s date: "From alice@example.org Tue Nov  4 19:03:06 2026".</summary>
    public static string FromLine(string sender, DateTime local) =>
        string.Create(CultureInfo.InvariantCulture,
            $"From {(sender.Length == 0 ? "MAILER-DAEMON" : sender)} {local:ddd MMM} {local.Day,2} {local:HH:mm:ss yyyy}\n");
}
