using Smtpd.Queue;

namespace Smtpd.Mta;

/// <summary>
/// The relaying component. Relaying (MX lookup, routes, SMTP client sessions) is not built
/// yet: every envelope handed here is failed temporarily, so relayed mail stays safely in the
/// queue and is retried with the transfer back-off until it expires. Nothing is lost.
/// </summary>
public sealed class MtaProcess(Bus bus, SmtpdLog log)
{
    public async Task RunAsync(CancellationToken ct)
    {
        await foreach (var message in bus.Mta.Reader.ReadAllAsync(ct))
        {
            if (message is not MtaTransfer transfer) continue;
            foreach (var e in transfer.Envelopes)
            {
                const string error = "451 4.3.0 Relaying is not available yet";
                log.Info($"{e.Id:x16} mta delivery evpid={e.Id:x16} from=<{e.Sender}> to=<{e.Dest}> rcpt=<{e.Rcpt}> source=\"\" relay=\"\" delay={Durations.Format(DateTimeOffset.UtcNow - e.CreationTime)} result=TempFail stat=\"{error}\"");
                bus.Post(new QueueDeliveryTempFail(e, error));
            }
        }
    }
}
