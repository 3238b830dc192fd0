namespace Smtpd.Mda;

/// <summary>
/// A way of storing a message in a user's mailbox. When <see cref="DeliverAsync"/> returns Ok
/// the message is on disk (fsync'd); on any failure nothing partial is left behind.
/// </summary>
public interface IMailboxDelivery
{
    Task<Outcome> DeliverAsync(DeliveryRequest request, CancellationToken ct);
}
