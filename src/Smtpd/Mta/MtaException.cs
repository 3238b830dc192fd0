namespace Smtpd.Mta;

/// <summary>
/// A session with a next hop failed: network, TLS, timeout, or a refused banner, EHLO/HELO,
/// STARTTLS or AUTH. Never permanent for the mail: as in OpenSMTPD (mta_error), it is the
/// host's fault, so the host is marked and the mail goes to the next MX or waits.
/// </summary>
public class MtaException(string message) : Exception(message);
