using Smtpd.Config;
using Smtpd.Smtp;

namespace Smtpd.Lookup;

/// <summary>What RCPT TO gets: an accepted recipient with how to deliver it, or a reply refusing it.</summary>
public abstract record RecipientDecision
{
    /// <param name="MdaMethod">From alias/.forward expansion: "mda" (|command) or "file" (/path); null: the action's method.</param>
    public sealed record Accept(ActionConfig Action, string Dest, string? MdaUser, string? Subaddress,
        string? MdaMethod = null, string? MdaTarget = null) : RecipientDecision;
    /// <summary>An alias, virtual entry or .forward that expanded to several deliveries.</summary>
    public sealed record Expanded(IReadOnlyList<Accept> Deliveries) : RecipientDecision;
    public sealed record Refuse(Reply Reply, string Reason) : RecipientDecision;
}
