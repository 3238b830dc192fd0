using Smtpd.Config;
using Smtpd.Smtp;
using Smtpd.Table;

namespace Smtpd.Lookup;

/// <summary>
/// Decides what happens to a recipient at RCPT time: which rule matches, and for local
/// delivery which user receives it. A lookup that fails is a temporary refusal (451), never a 5xx.
/// </summary>
/// <param name="userExists">Returns the canonical name of a local user allowed to receive
/// mail here, or null (the Mda side knows system users and privileges).</param>
public sealed class RecipientResolver(Ruleset ruleset, RuleMatcher matcher, Func<string, string?> userExists)
{
    public RecipientDecision Resolve(SessionInfo session, MailAddress rcpt)
    {
        Rule? rule;
        try { rule = matcher.Match(session, rcpt); }
        catch (TableTempFailException ex) { return new RecipientDecision.Refuse(Replies.TempFailure, ex.Message); }

        if (rule is null)
            return matcher.IsLocalDomain(rcpt.Domain)
                ? new RecipientDecision.Refuse(Replies.UnknownUser, "no rule matched")
                : new RecipientDecision.Refuse(Replies.RelayDenied, "no rule matched");
        if (rule.Reject)
            return new RecipientDecision.Refuse(Replies.DeliveryNotAuthorized, $"rejected by rule at {rule.Location}");

        var action = ruleset.Actions[rule.ActionName!];
        if (!action.IsLocal)
            return new RecipientDecision.Accept(action, rcpt.ToString(), null, null);

        // user+tag@domain delivers to user, keeping the tag (RFC 5233 sub-addressing).
        string local = rcpt.User;
        string? tag = null;
        int plus = local.IndexOf(ruleset.SubAddressDelimiter);
        if (plus > 0) { tag = local[(plus + 1)..]; local = local[..plus]; }

        string? user = userExists(local.ToLowerInvariant());
        if (user is null)
            return new RecipientDecision.Refuse(Replies.UnknownUser, $"no local user {local}");

        string dest = rcpt.Domain.Length == 0 ? rcpt.User : rcpt.ToString();
        return new RecipientDecision.Accept(action, dest, user, tag);
    }
}
