using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Smtpd.Config;
using Smtpd.Mda;
using Smtpd.Reload;
using Smtpd.Smtp;
using Smtpd.Smtp.Auth;

namespace Smtpd.Privsep;

/// <summary>
/// The privileged part of smtpd (seed 004's PARENT: "fork mda for the delivery agent, performs
/// privileged auth checking, open .forward files"), run as <c>smtpd --privileged-helper FD</c>
/// by a daemon started as root, before that daemon gives up root. It keeps root, touches no
/// queue, and answers only <see cref="PrivRequest"/>s from its channel; when the daemon goes away
/// (the channel closes) it exits. For a reload it also reads the configuration the daemon started
/// with (files only root may read) and opens the ports its listeners name (below 1024), as
/// OpenSMTPD's parent does; it never accepts a connection on them.
/// </summary>
/// <param name="started">The configuration <c>config</c> checks and <c>bind</c> keeps to; null: neither is answered.</param>
/// <param name="settings">What reading that configuration takes from outside it (SMTPD_CERTDIR, SMTPD_LIBEXEC).</param>
public sealed class PrivilegedHelper(FdChannel channel, SmtpdPaths paths, SmtpdLog log,
    StartedConfiguration? started = null, SmtpdSettings? settings = null)
{
    public const string Flag = "--privileged-helper";

    /// <summary>Where the listeners of the configuration last checked without errors listen: all
    /// that <c>bind</c> opens. Empty until a check: the daemon binds its first ports itself.</summary>
    volatile IReadOnlySet<IPEndPoint> _listenable = new HashSet<IPEndPoint>();

    /// <param name="settings">As the daemon that started us reads them (the environment is inherited).</param>
    public static int Main(string[] args, SmtpdSettings settings)
    {
        if (args.Length < 2 || !int.TryParse(args[1], out int fd)) return 64;
        if (ParseFlags(args[2..], settings) is not var (foreground, verbose, started)) return 64;
        using var log = new SmtpdLog(foreground, verbose);
        if (!SystemUsers.IsRoot) { log.Warn("privileged helper: not root"); return 1; }
        // The channel end included: no delivery process of ours may hold the daemon's channel.
        InheritedDescriptors.KeepFromChildren();
        using var signals = IgnoreStopSignals();
        var helper = new PrivilegedHelper(new FdChannel(fd), settings.Paths!, log, started, settings);
        // A burst of deliveries and logins grows the helper's heap too; it gives it back when quiet.
        using var stop = new CancellationTokenSource();
        _ = new IdleMemoryTrim(TimeProvider.System, log).RunAsync(stop.Token);
        helper.Run();
        stop.Cancel();
        return 0;
    }

    /// <summary>What <see cref="PrivilegedClient.Start"/> passes after the descriptor:
    /// <c>[-d] [-v] [-p PORT] [-f FILE] [-D NAME=VALUE]...</c>; null when it is not that.</summary>
    static (bool Foreground, bool Verbose, StartedConfiguration Started)? ParseFlags(string[] flags, SmtpdSettings settings)
    {
        bool foreground = false, verbose = false;
        string? file = null;
        int port = settings.DefaultPort(privileged: true);
        var macros = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < flags.Length; i++)
        {
            string? value = i + 1 < flags.Length ? flags[i + 1] : null;
            switch (flags[i])
            {
                case "-d": foreground = true; continue;
                case "-v": verbose = true; continue;
                case "-p" when int.TryParse(value, out int p) && p is > 0 and < 65536: port = p; break;
                case "-f" when value is not null: file = value; break;
                case "-D" when value?.IndexOf('=') > 0: macros[value[..value.IndexOf('=')]] = value[(value.IndexOf('=') + 1)..]; break;
                default: return null;
            }
            i++; // the flag's value
        }
        return (foreground, verbose, new StartedConfiguration(file, macros, port));
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
            // ~/.forward reads (one for each local recipient: a stat, maybe a small read) one after
            // another on a thread of their own, as OpenSMTPD's parent makes them in its loop: one
            // hand-off each, where a task of the pool and a file-identity thread took three. Every
            // other request on its own: a slow spawn or flush, or a home directory that hangs,
            // holds up no authentication.
            if (request.Op == PrivRequest.Forward) _forwardReads.Post(() => AnswerNow(request));
            else _ = Task.Run(() => Answer(request));
        }
    }

    readonly JobThreads _forwardReads = new("forward-reads", 1);

    /// <summary>A request whose answer completes on this thread (no await in its path): the forward reads.</summary>
    void AnswerNow(PrivRequest request)
    {
        try { Answer(request).GetAwaiter().GetResult(); }
        catch (Exception ex)
        {
            // Still an answer: the daemon's lookup would otherwise wait for its timeout.
            log.Warn($"privileged helper: {request.Op} request failed: {ex.GetType().Name}: {ex.Message}");
            try { channel.Send(PrivsepJson.Encode(new PrivReply(request.Id, PrivReply.TempFail, ex.Message))); }
            catch (IOException) { }
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
        // A descriptor the reply carries, and what owns it here: closed once sent.
        int[] fds = [];
        IDisposable? passed = null;
        try
        {
            switch (r.Op)
            {
                case PrivRequest.Auth:
                    reply = Authenticate(r);
                    break;
                case PrivRequest.Forward:
                    reply = ReadForward(r);
                    break;
                case PrivRequest.Worker:
                    (reply, var workerEnd) = StartWorker(r);
                    if (workerEnd is not null) (fds, passed) = ([workerEnd.Fd], workerEnd);
                    break;
                case PrivRequest.Config:
                    (reply, var answerEnd) = CheckConfig(r);
                    if (answerEnd is not null) (fds, passed) = ([answerEnd.Fd], answerEnd);
                    break;
                case PrivRequest.Bind:
                    (reply, var listening) = Bind(r);
                    if (listening is not null) (fds, passed) = ([(int)listening.Handle], listening);
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
        finally { passed?.Dispose(); }
    }

    /// <summary>
    /// Reads and checks, as root, the configuration the daemon started with, exactly as
    /// <c>smtpd -n</c> does, remembering each file read. The <see cref="ConfigCheck"/> goes back
    /// through a stream socket passed with the reply: with its certificates and CAs it may not fit
    /// one channel message (a system CA bundle alone is over 200 KB).
    /// </summary>
    (PrivReply, FdChannel?) CheckConfig(PrivRequest r)
    {
        if (started is null) return (new PrivReply(r.Id, PrivReply.Failed, "no configuration to check"), null);
        var check = Check(started);
        var (mine, theirs) = FdChannel.Pair(Posix.SockStream);
        byte[] answer = PrivsepJson.Encode(check);
        _ = Task.Run(() => WriteAll(mine, answer));
        return (new PrivReply(r.Id, check.Ok ? PrivReply.Ok : PrivReply.Failed), theirs);
    }

    ConfigCheck Check(StartedConfiguration started)
    {
        var files = ConfigFiles.Recording();
        try
        {
            var config = CheckedConfig.Load(started.File, started.Macros, privileged: true, settings ?? SmtpdSettings.Default, files);
            // What a start refuses, a reload refuses too.
            if (config.Unsupported.Count > 0) return Refused(config.Unsupported);
            _listenable = ListenerEndpoints.Of(config.Listeners, started.DefaultPort).Select(l => l.EndPoint).ToHashSet();
            return new ConfigCheck([], files.Recorded);
        }
        catch (ConfigException ex) { return Refused(ex.Errors); }

        static ConfigCheck Refused(IReadOnlyList<ConfigError> errors) => new(errors, new Dictionary<string, string>());
    }

    void WriteAll(FdChannel end, byte[] answer)
    {
        using var socket = end.ToSocket();
        socket.SendTimeout = 30_000; // a daemon that stops reading does not hold a thread of ours for ever
        try
        {
            using var stream = new NetworkStream(socket);
            stream.Write(answer);
        }
        catch (IOException ex) { log.Warn($"privileged helper: configuration check not sent: {ex.Message}"); }
    }

    /// <summary>A listening socket for one endpoint of a listener of the last configuration checked
    /// (a compromised daemon gets no other port), opened as the daemon opens its own. A refusal
    /// says why, for the daemon's "cannot listen on ENDPOINT: why".</summary>
    (PrivReply, Socket?) Bind(PrivRequest r)
    {
        if (!IPEndPoint.TryParse(r.Endpoint ?? "", out var endpoint))
            return (new PrivReply(r.Id, PrivReply.Failed, $"not an address and port: {r.Endpoint}"), null);
        if (!_listenable.Contains(endpoint))
            return (new PrivReply(r.Id, PrivReply.Failed, "refused by the privileged helper: no listener of the configuration it checked listens there"), null);
        try
        {
            var socket = ListenerEndpoints.Listen(endpoint);
            log.Debug($"privileged helper: listening on {endpoint} for the daemon");
            return (new PrivReply(r.Id, PrivReply.Ok), socket);
        }
        catch (SocketException ex) { return (new PrivReply(r.Id, PrivReply.Failed, ex.Message), null); }
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
    static PrivReply ReadForward(PrivRequest r)
    {
        var user = SystemUsers.Lookup(r.User ?? "");
        if (user is null) return new PrivReply(r.Id, PrivReply.Failed, "no such user");
        string path = Path.Combine(user.Home, ".forward");
        // Unreadable or not a regular file: Answer makes it a tempfail, and the recipient 451.
        string? content = UserFileAccess.RunHere(user, () => ForwardFile.Read(path));
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
