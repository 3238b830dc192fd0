using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Smtpd.Smtp.Auth;

namespace Smtpd.Privsep;

/// <summary>
/// The daemon's side of the channel to its privileged helper: starts the helper (while still
/// root), then sends it requests and matches each answer to its request by id. A helper that is
/// gone or slow is a temporary failure for whoever asked, never a refusal.
/// </summary>
public sealed class PrivilegedClient : IDisposable
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    readonly FdChannel _channel;
    readonly ConcurrentDictionary<long, TaskCompletionSource<(PrivReply, int[])>> _pending = new();
    readonly System.Diagnostics.Process? _helper;
    long _nextId;

    /// <param name="helper">The helper's process; null when it runs in this one (tests).</param>
    internal PrivilegedClient(FdChannel channel, System.Diagnostics.Process? helper)
    {
        _channel = channel;
        _helper = helper;
        new Thread(ReadReplies) { IsBackground = true, Name = "privsep-replies" }.Start();
    }

    /// <summary>Starts <c>smtpd --privileged-helper</c>; call as root, before dropping privileges.</summary>
    /// <param name="configuration">What the daemon was started with: the one configuration the helper will check for a reload.</param>
    public static PrivilegedClient Start(bool foreground, bool verbose, StartedConfiguration configuration)
    {
        var (mine, theirs) = FdChannel.Pair();
        // Read back by PrivilegedHelper.Main.
        var args = new List<string> { PrivilegedHelper.Flag, theirs.Fd.ToString() };
        if (foreground) args.Add("-d");
        if (verbose) args.Add("-v");
        args.AddRange(["-p", configuration.DefaultPort.ToString()]);
        if (configuration.File is { } file) args.AddRange(["-f", file]);
        foreach (var (name, value) in configuration.Macros) args.AddRange(["-D", $"{name}={value}"]);
        // In our own directory, so that a relative -f, include or certificate path names the same file for both.
        return new PrivilegedClient(mine, ChildProcess.Start(theirs, args, workingDirectory: Environment.CurrentDirectory));
    }

    public int HelperPid => _helper?.Id ?? Environment.ProcessId;

    void ReadReplies()
    {
        while (_channel.Receive() is { } message)
        {
            PrivReply? reply;
            try { reply = PrivsepJson.Reply(message.Data); }
            catch (System.Text.Json.JsonException) { reply = null; }
            if (reply is not null && _pending.TryRemove(reply.Id, out var waiting)) waiting.TrySetResult((reply, message.Fds));
            else foreach (int fd in message.Fds) Posix.close(fd);
        }
        foreach (var waiting in _pending.Values) waiting.TrySetException(new IOException(Gone()));
    }

    /// <summary>
    /// What a request that cannot reach the helper fails with: the daemon cannot start another (it
    /// is root no more), so every later delivery and system login fails the same way, and the log
    /// should say how the helper ended rather than a bare errno.
    /// </summary>
    string Gone()
    {
        if (_helper is null) return "the privileged helper is gone";
        try
        {
            if (_helper.WaitForExit(TimeSpan.FromSeconds(1)))
                return _helper.ExitCode > 128
                    ? $"the privileged helper is gone (killed by signal {_helper.ExitCode - 128})"
                    : $"the privileged helper is gone (exit status {_helper.ExitCode})";
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception) { }
        return "the privileged helper is gone";
    }

    public async Task<(PrivReply Reply, int[] Fds)> AskAsync(PrivRequest request, CancellationToken ct = default)
    {
        var waiting = new TaskCompletionSource<(PrivReply, int[])>(TaskCreationOptions.RunContinuationsAsynchronously);
        var r = request with { Id = Interlocked.Increment(ref _nextId) };
        _pending[r.Id] = waiting;
        try
        {
            try { _channel.Send(PrivsepJson.Encode(r)); }
            catch (IOException ex) when (_helper is { HasExited: true }) { throw new IOException(Gone(), ex); }
            return await waiting.Task.WaitAsync(Timeout, ct);
        }
        catch (TimeoutException) { throw new IOException($"the privileged helper did not answer \"{r.Op}\" in time"); }
        finally { _pending.TryRemove(r.Id, out _); }
    }

    /// <summary>System user authentication (the helper reads /etc/shadow).</summary>
    public async ValueTask<(AuthResult Result, string? Problem)> AuthenticateAsync(string user, string password, CancellationToken ct)
    {
        try
        {
            var (reply, _) = await AskAsync(new PrivRequest(0, PrivRequest.Auth) { User = user, Password = password }, ct);
            return (reply.Result switch { PrivReply.Ok => AuthResult.Ok, PrivReply.Failed => AuthResult.Failed, _ => AuthResult.TempFail }, reply.Text);
        }
        catch (IOException ex) { return (AuthResult.TempFail, ex.Message); }
    }

    /// <summary>The content of a user's ~/.forward, or null; an IOException when the helper cannot say.</summary>
    public async ValueTask<string?> ReadForwardAsync(string user, CancellationToken ct)
    {
        var (reply, _) = await AskAsync(new PrivRequest(0, PrivRequest.Forward) { User = user }, ct);
        return reply.Result switch
        {
            PrivReply.Ok => reply.Value,
            PrivReply.Failed => null,
            _ => throw new IOException($"cannot read the .forward of {user}: {reply.Text}"),
        };
    }

    /// <summary>A socket to a new delivery process running as uid:gid (with the user's groups, plus <paramref name="extraGroup"/>).</summary>
    public async Task<(System.Net.Sockets.Socket? Socket, PrivReply Reply)> StartWorkerAsync(Mda.SystemUser user, uint? extraGroup, CancellationToken ct)
    {
        var (reply, fds) = await AskAsync(new PrivRequest(0, PrivRequest.Worker) { User = user.Name, Uid = user.Uid, Gid = user.Gid, ExtraGroup = extraGroup }, ct);
        if (reply.Result != PrivReply.Ok || fds.Length != 1)
        {
            foreach (int fd in fds) Posix.close(fd);
            return (null, reply);
        }
        return (new FdChannel(fds[0]).ToSocket(), reply);
    }

    /// <summary>Mail left in the offline queue is enqueued by the helper, which can read every user's file.</summary>
    public async Task FlushOfflineAsync(bool recover) => await AskAsync(new PrivRequest(0, PrivRequest.FlushOffline) { Recover = recover });

    /// <summary>
    /// The configuration the daemon started with, read and checked again by the helper as root
    /// (for a reload): its errors, or the files it read, to load it from with
    /// <see cref="Config.ConfigFiles.Bundle"/>.
    /// </summary>
    /// <exception cref="IOException">The helper is gone, or did not answer.</exception>
    public async Task<ConfigCheck> CheckConfigAsync(CancellationToken ct)
    {
        var (reply, fds) = await AskAsync(new PrivRequest(0, PrivRequest.Config), ct);
        if (reply.Result is not (PrivReply.Ok or PrivReply.Failed) || fds.Length != 1)
        {
            foreach (int fd in fds) Posix.close(fd);
            throw new IOException($"the privileged helper cannot check the configuration: {reply.Text}");
        }
        using var stream = new NetworkStream(new FdChannel(fds[0]).ToSocket(), ownsSocket: true);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        try
        {
            return await PrivsepJson.ConfigCheckAsync(stream, timeout.Token)
                ?? throw new IOException("the privileged helper sent no configuration check");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { throw new IOException("the privileged helper did not send its configuration check in time"); }
        catch (System.Text.Json.JsonException ex) { throw new IOException($"the privileged helper sent a broken configuration check: {ex.Message}"); }
    }

    /// <summary>
    /// A socket listening on <paramref name="endpoint"/>, opened by the helper (a port below 1024
    /// for a reload); only where a listener of the configuration it last checked listens.
    /// </summary>
    /// <exception cref="IOException">Refused, or the port cannot be bound; the message is the helper's reason.</exception>
    public async Task<Socket> BindAsync(IPEndPoint endpoint, CancellationToken ct)
    {
        var (reply, fds) = await AskAsync(new PrivRequest(0, PrivRequest.Bind) { Endpoint = endpoint.ToString() }, ct);
        if (reply.Result != PrivReply.Ok || fds.Length != 1)
        {
            foreach (int fd in fds) Posix.close(fd);
            throw new IOException(reply.Text ?? $"the privileged helper cannot listen on {endpoint}");
        }
        return new Socket(new SafeSocketHandle(fds[0], ownsHandle: true));
    }

    public void Dispose()
    {
        _channel.Dispose();
        _helper?.Dispose();
    }
}
