namespace Smtpd.Smtp.Auth;

/// <summary>
/// The addresses a <c>senders</c> table lets a user send as (OpenSMTPD's mailaddrmap): a
/// comma- or space-separated list of <c>user@domain</c>, <c>@domain</c> (any user there) and
/// <c>user</c> (that user at any domain). Compared without regard to case.
/// </summary>
public static class SenderAddresses
{
    public static bool Allows(string list, MailAddress sender)
    {
        foreach (string raw in list.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            string entry = raw.Trim().Trim('<', '>');
            int at = entry.LastIndexOf('@');
            string user = at < 0 ? entry : entry[..at];
            string domain = at < 0 ? "" : entry[(at + 1)..];
            bool userOk = user.Length == 0 || string.Equals(user, sender.User, StringComparison.OrdinalIgnoreCase);
            bool domainOk = domain.Length == 0 || string.Equals(domain, sender.Domain, StringComparison.OrdinalIgnoreCase);
            if (userOk && domainOk) return true;
        }
        return false;
    }
}
