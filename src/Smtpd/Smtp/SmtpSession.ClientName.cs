using Smtpd.Lookup.Dns;

namespace Smtpd.Smtp;

// The client's reverse name, looked up once before the banner (smtp_getnameinfo_cb and
// smtp_getaddrinfo_cb): the log line, Received:, the envelope's hostname, the filters' rdns and
// fcrdns and the rules' "from rdns" all use this one answer, from the daemon's one resolver.
public sealed partial class SmtpSession
{
    /// <summary>A lookup never holds a client longer than this, whatever resolv.conf says.</summary>
    static readonly TimeSpan ClientNameTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A local submission (sendmail) is "localhost", forward-confirmed, as in OpenSMTPD.</summary>
    ReverseName _clientName = new("localhost", true);

    async Task LookUpClientNameAsync()
    {
        if (_remote is null) return;
        if (_ctx.Names is null) { _clientName = ReverseName.None; return; }
        using var cts = Deadline.After(_ctx.Time, ClientNameTimeout, _shutdown);
        try { _clientName = await _ctx.Names.ReverseAsync(_remote.Address, cts.Token); }
        catch (OperationCanceledException)
        {
            // At shutdown the session ends at its first read; the name no longer matters.
            _clientName = _shutdown.IsCancellationRequested ? ReverseName.None
                : new ReverseName(null, false, $"no answer within {ClientNameTimeout.TotalSeconds:0} s");
        }
        if (_clientName.Error is { } error)
            _ctx.Log.Warn($"{Id:x16} smtp reverse name of {_remote.Address}: {error}");
    }
}
