namespace Smtpd.Mda;

/// <summary>One local delivery: which spooled message, for whom, into which mailbox.</summary>
/// <param name="OpenMessage">Opens the message in the queue (CRLF line ends, as received; decompressed and decrypted).</param>
/// <param name="Sender">MAIL FROM; "" for the null sender (bounces).</param>
/// <param name="Target">The maildir directory or mbox file.</param>
public sealed record DeliveryRequest(Func<Stream> OpenMessage, string Sender, string Recipient, string Dest, SystemUser User, string Target);
