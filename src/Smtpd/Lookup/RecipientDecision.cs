using Smtpd.Config;
using Smtpd.Smtp;

namespace Smtpd.Lookup;

/// <summary>What RCPT TO gets: an accepted recipient with how to deliver it, or a reply refusing it.</summary>
public abstract record RecipientDecision
{
    public sealed record Accept(ActionConfig Action, string Dest, string? MdaUser, string? Subaddress) : RecipientDecision;
    public sealed record Refuse(Reply Reply, string Reason) : RecipientDecision;
}
