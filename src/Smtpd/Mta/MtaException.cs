namespace Smtpd.Mta;

/// <summary>
/// A session with a next hop failed. Permanent only when the server itself said so with a 5xx
/// at a point that concerns every recipient (banner, EHLO, MAIL); anything about the network,
/// TLS or timeouts is temporary and, being the MX's fault, marks the MX rather than the mail.
/// </summary>
public sealed class MtaException(string message, bool permanent = false) : Exception(message)
{
    public bool Permanent { get; } = permanent;
}
