namespace Smtpd.Mda;

/// <summary>
/// Alias and .forward <c>/path/to/file</c>: the message is appended to the file in mbox format,
/// as the user the expansion ran for, with the same locking as a mailbox.
/// </summary>
public sealed class FileDelivery(string path) : IMailboxDelivery
{
    readonly MboxDelivery _mbox = new();

    public Task<Outcome> DeliverAsync(DeliveryRequest request, CancellationToken ct) =>
        _mbox.DeliverAsync(request with { Target = path }, ct);
}
