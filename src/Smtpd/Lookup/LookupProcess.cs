using Smtpd.Table;

namespace Smtpd.Lookup;

/// <summary>
/// The lookup component's admin side (OpenSMTPD's lka): owns the tables and takes the requests
/// that change them. Lookups themselves are made by sessions and the MTA on the table set, which
/// keeps a swap safe for them.
/// </summary>
public sealed class LookupProcess(Reload.LiveConfig config, Bus bus, SmtpdLog log)
{
    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var message in bus.Lookup.Reader.ReadAllAsync(ct))
            {
                try { await bus.ProfileAsync("lookup", message, () => { Handle(message); return Task.CompletedTask; }); }
                catch (Exception ex) when (ex is not (KeyNotFoundException or TableContentException or TableTempFailException))
                {
                    // The caller was told; the component goes on.
                    log.Warn($"lookup: unexpected error handling {message.GetType().Name}: {ex.GetType().Name}: {SystemErrors.Describe(ex)}");
                }
                catch (Exception) { }
            }
        }
        catch (OperationCanceledException) { }
    }

    void Handle(LookupMessage message)
    {
        switch (message)
        {
            case LookupUpdateTable m:
                config.Current.Tables.Reload(m.Name);
                m.Reply.Answer(true);
                break;
        }
    }
}
