using System.Collections.Concurrent;
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
    readonly System.Diagnostics.Process _helper;
    long _nextId;

    PrivilegedClient(FdChannel channel, System.Diagnostics.Process helper)
    {
        _channel = channel;
        _helper = helper;
        new Thread(ReadReplies) { IsBackground = true, Name = "privsep-replies" }.Start();
    }

    /// <summary>Starts <c>smtpd --privileged-helper</c>; call as root, before dropping privileges.</summary>
    public static PrivilegedClient Start(bool foreground, bool verbose)
    {
        var (mine, theirs) = FdChannel.Pair();
        var args = new List<string> { PrivilegedHelper.Flag, theirs.Fd.ToString() };
        if (foreground) args.Add("-d");
        if (verbose) args.Add("-v");
        return new PrivilegedClient(mine, ChildProcess.Start(theirs, args));
    }

    public int HelperPid => _helper.Id;

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
            catch (IOException ex) when (_helper.HasExited) { throw new IOException(Gone(), ex); }
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

    public void Dispose()
    {
        _channel.Dispose();
        _helper.Dispose();
    }
}
