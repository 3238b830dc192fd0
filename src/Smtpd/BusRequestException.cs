namespace Smtpd;

/// <summary>
/// A request between components got no answer: its handler failed (the inner exception) or it
/// did not answer in time. The caller reports it (smtpctl prints an error) instead of waiting.
/// </summary>
public sealed class BusRequestException : Exception
{
    public BusRequestException(string request, long id, Exception inner)
        : base($"{request} #{id} failed: {inner.GetType().Name}: {inner.Message}", inner) { }

    public BusRequestException(string request, long id, string reason)
        : base($"{request} #{id} failed: {reason}") { }
}
