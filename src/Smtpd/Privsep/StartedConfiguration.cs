namespace Smtpd.Privsep;

/// <summary>
/// The configuration the daemon was started with (<c>-f FILE</c> or none, <c>-D name=value</c>,
/// the port of listeners that name none), given to the privileged helper on its command line when
/// it starts. The helper checks this configuration and no other: a (possibly compromised) daemon
/// cannot name a file for root to read, nor a port that no listener of it has.
/// </summary>
public sealed record StartedConfiguration(string? File, IReadOnlyDictionary<string, string> Macros, int DefaultPort);
