namespace Smtpd.Lookup.Dns;

/// <summary>
/// A client's reverse name (from /etc/hosts or a PTR record) and whether it is forward-confirmed
/// (the name's addresses include the client's: fcrdns). <see cref="Error"/> says why a lookup that
/// did not find "no such name" failed (a timeout, SERVFAIL); the session logs it.
/// </summary>
public sealed record ReverseName(string? Name, bool Confirmed, string? Error = null)
{
    /// <summary>What OpenSMTPD shows for a client without a name (log, Received:, envelope).</summary>
    public const string Unknown = "<unknown>";

    public static readonly ReverseName None = new(null, false);

    /// <summary>The name, or <c>&lt;unknown&gt;</c>.</summary>
    public string Text => Name ?? Unknown;
}
