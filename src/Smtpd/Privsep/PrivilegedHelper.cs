using System.Diagnostics;
using System.Runtime.InteropServices;
using Smtpd.Mda;
using Smtpd.Smtp.Auth;

namespace Smtpd.Privsep;

/// <summary>
/// The privileged part of smtpd (seed 004's PARENT: "fork mda for the delivery agent, performs
/// privileged auth checking, open .forward files"), run as <c>smtpd --privileged-helper FD</c>
/// by a daemon started as root, before that daemon gives up root. It keeps root, touches no
/// network and no queue, and answers only <see cref="PrivRequest"/>s from its channel; when the
/// daemon goes away (the channel closes) it exits.
/// </summary>
public sealed class PrivilegedHelper(FdChannel channel, SmtpdPaths paths, SmtpdLog log)
{
    public const string Flag = "--privileged-helper";

    /// <param name="paths">The system's paths, as the daemon that started us resolves them (the environment is inherited).</param>
    public static int Main(string[] args, SmtpdPaths paths)
    {
        if (args.Length < 2 || !int.TryParse(args[1], out int fd)) return 64;
        bool foreground = args.Contains("-d"), verbose = args.Contains("-v");
        using var log = new SmtpdLog(foreground, verbose);
        if (!SystemUsers.IsRoot) { log.Warn("privileged helper: not root"); return 1; }
        // The channel end included: no delivery process of ours may hold the daemon's channel.
        InheritedDescriptors.KeepFromChildren();
        using var signals = IgnoreStopSignals();
        var helper = new PrivilegedHelper(new FdChannel(fd), paths, log);
        helper.Run();
        return 0;
    }

    /// <summary>
    /// The helper ends when the daemon does (its channel closes), never before: a stop signal sent
    /// to the whole process group (a terminal's ^C to <c>smtpd -d</c>) or to every process named
    /// smtpd would otherwise take it while the daemon finishes its work, and the daemon, root no
    /// more, cannot start another: each later request failed with EPIPE ("send failed (errno 32)").
    /// As OpenSMTPD's processes other than the parent, it ignores SIGHUP, SIGINT and SIGTERM; the
    /// programs it starts get the default handling back.
    /// </summary>
    static IDisposable IgnoreStopSignals()
    {
        var registrations = new[] { PosixSignal.SIGHUP, PosixSignal.SIGINT, PosixSignal.SIGTERM }
            .Select(signal => PosixSignalRegistration.Create(signal, context => context.Cancel = true)).ToList();
        return new Registrations(registrations);
    }

    sealed class Registrations(List<PosixSignalRegistration> all) : IDisposable
    {
        public void Dispose() { foreach (var r in all) r.Dispose(); }
    }

    public void Run()
    {
        while (channel.Receive() is { } message)
        {
            foreach (int fd in message.Fds) Posix.close(fd); // the daemon never sends us any
            var request = Decode(message.Data);
            if (request is null) { log.Warn("privileged helper: malformed request, ignored"); continue; }
            // Each request on its own: a slow spawn or flush holds up no authentication.
            _ = Task.Run(() => Answer(request));
        }
    }

    static PrivRequest? Decode(byte[] data)
    {
        try { return PrivsepJson.Request(data); }
        catch (System.Text.Json.JsonException) { return null; }
    }

    async Task Answer(PrivRequest r)
    {
        PrivReply reply;
        int[] fds = [];
        FdChannel? workerEnd = null;
        try
        {
            switch (r.Op)
            {
                case PrivRequest.Auth:
                    reply = Authenticate(r);
                    break;
                case PrivRequest.Forward:
                    reply = await ReadForwardAsync(r);
                    break;
                case PrivRequest.Worker:
                    (reply, workerEnd) = StartWorker(r);
                    if (workerEnd is not null) fds = [workerEnd.Fd];
                    break;
                case PrivRequest.FlushOffline:
                    await Control.OfflineQueue.FlushAsync(paths.Spool, paths.ControlSocket, log, r.Recover, CancellationToken.None);
                    reply = new PrivReply(r.Id, PrivReply.Ok);
                    break;
                default:
                    reply = new PrivReply(r.Id, PrivReply.Failed, $"unknown request {r.Op}");
                    break;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or System.ComponentModel.Win32Exception
                                   or Table.TableTempFailException)
        {
            reply = new PrivReply(r.Id, PrivReply.TempFail, ex.Message);
        }
        try { channel.Send(PrivsepJson.Encode(reply), fds); }
        catch (IOException) { /* the daemon is gone; Run ends at the next receive */ }
        finally { workerEnd?.Dispose(); }
    }

    static PrivReply Authenticate(PrivRequest r)
    {
        string? hash;
        try { hash = ShadowPasswords.HashOf(r.User ?? ""); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return new PrivReply(r.Id, PrivReply.TempFail, ex.Message); }
        bool ok = hash is not null && PasswordCrypt.Verify(r.Password ?? "", hash);
        return new PrivReply(r.Id, ok ? PrivReply.Ok : PrivReply.Failed);
    }

    /// <summary>
    /// ~/.forward, read with the user's own file identity: a symlink to a file the user may not
    /// read gives nothing away. Value null: no file, normal delivery; a file the user may not read is
    /// a tempfail, so the recipient gets 451 rather than mail the .forward meant to send elsewhere.
    /// </summary>
    static async Task<PrivReply> ReadForwardAsync(PrivRequest r)
    {
        var user = SystemUsers.Lookup(r.User ?? "");
        if (user is null) return new PrivReply(r.Id, PrivReply.Failed, "no such user");
        string path = Path.Combine(user.Home, ".forward");
        string? content = await UserFileAccess.RunAsync(user, () =>
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length > 64 * 1024) return null;
            return File.ReadAllText(path); // unreadable: Answer makes it a tempfail, and the recipient 451
        });
        return new PrivReply(r.Id, PrivReply.Ok, Value: content);
    }

    /// <summary>
    /// A delivery process for one identity: <c>smtpd --delivery-worker FD UID GID GROUPS</c>,
    /// which drops to that identity before it reads anything. Never for uid 0 (seed 004:
    /// limited superuser delivery).
    /// </summary>
    (PrivReply, FdChannel?) StartWorker(PrivRequest r)
    {
        if (r.Uid == 0) return (new PrivReply(r.Id, PrivReply.Failed, "delivery as root is not allowed"), null);
        var groups = (r.User is { Length: > 0 } name && SystemUsers.Lookup(name) is { } u && u.Uid == r.Uid
            ? Identity.GroupsOf(name, r.Gid) : [r.Gid]).ToList();
        if (r.ExtraGroup is { } extra && !groups.Contains(extra)) groups.Add(extra);
        var (mine, theirs) = FdChannel.Pair(Posix.SockStream);
        var process = ChildProcess.Start(theirs, [DeliveryWorker.Flag, theirs.Fd.ToString(), r.Uid.ToString(), r.Gid.ToString(), string.Join(',', groups)],
            InheritedEnvironment());
        Reap(process);
        log.Debug($"privileged helper: delivery process {process.Id} for uid {r.Uid}");
        return (new PrivReply(r.Id, PrivReply.Ok), mine);
    }

    static Dictionary<string, string?> InheritedEnvironment()
    {
        return new Dictionary<string, string?> { ["HOME"] = "/", ["USER"] = null, ["LOGNAME"] = null };
    }

    static void Reap(Process process) => _ = process.WaitForExitAsync().ContinueWith(_ => process.Dispose(), TaskScheduler.Default);
}
