namespace Smtpd.Mta;

/// <summary>The next hop's certificate failed a check the action requires: the mail waits for the scheduler's next try.</summary>
public sealed class PeerCertificateException(string problem) : MtaException($"TLS certificate verification failed: {problem}");
