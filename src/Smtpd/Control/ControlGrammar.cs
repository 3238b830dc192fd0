namespace Smtpd.Control;

/// <summary>
/// The commands smtpctl knows, in the order OpenSMTPD's smtpctl installs them, so that a
/// command it cannot read gets the same "possibilities are:" list (parser.c): the words that
/// may follow the longest part of it that matched.
/// </summary>
public static class ControlGrammar
{
    static readonly string[] Commands =
    [
        "discover <evpid>", "discover <msgid>",
        "pause mta", "resume mta", "show mta paused",
        "log brief", "log verbose", "monitor",
        "pause envelope <evpid>", "pause envelope <msgid>", "pause envelope all", "pause mda", "pause smtp",
        "profile <str>",
        "remove <evpid>", "remove <msgid>", "remove all",
        "resume envelope <evpid>", "resume envelope <msgid>", "resume envelope all", "resume mda",
        "resume route <routeid>", "resume smtp",
        "schedule <msgid>", "schedule <evpid>", "schedule all",
        "show envelope <evpid>", "show hoststats", "show message <msgid>", "show message <evpid>",
        "show queue", "show queue <msgid>", "show hosts", "show relays", "show routes", "show stats", "show status",
        "trace <str>", "unprofile <str>", "untrace <str>", "update table <str>",
        "encrypt", "encrypt <str>", "spf walk",
        // Ours: OpenSMTPD cannot reload.
        "reload", "show tls-policy <domain>",
    ];

    /// <summary>
    /// Ours too, but kept out of the list an unknown verb gets, which stays OpenSMTPD's (plus
    /// reload): named only once the verb is typed. release: a milter's quarantine (issue 23).
    /// </summary>
    static readonly string[] Unlisted = ["release <evpid>", "release <msgid>", "release all"];

    /// <summary>
    /// Takes -j out of the words when it is the last word (as the issue writes it) or right
    /// after show; anywhere else it is an argument like any other.
    /// </summary>
    public static bool TakeJsonFlag(ref string[] words)
    {
        int at = words.Length > 1 && words[^1] == "-j" ? words.Length - 1 : words is ["show", "-j", ..] ? 1 : -1;
        if (at < 0) return false;
        words = [.. words[..at], .. words[(at + 1)..]];
        return true;
    }

    /// <summary>Whether the words are one whole command (a placeholder takes any word): smtpctl
    /// checks before it connects, as OpenSMTPD's parses before it does.</summary>
    public static bool IsCommand(IReadOnlyList<string> words) =>
        Commands.Concat(Unlisted).Select(c => c.Split(' ')).Any(p =>
            p.Length == words.Count && p.Zip(words).All(w => Fits(w.First, w.Second)));

    /// <summary>
    /// A word where the pattern has <paramref name="part"/>: the same word, or what the
    /// placeholder takes. As OpenSMTPD's parser, a msgid is 8 hexadecimal digits and an evpid
    /// 16 (anything else there gets the possibilities); other placeholders take any word.
    /// </summary>
    static bool Fits(string part, string word) => part switch
    {
        "<msgid>" => word.Length == 8 && word.All(char.IsAsciiHexDigit),
        "<evpid>" => word.Length == 16 && word.All(char.IsAsciiHexDigit),
        _ => part == word || part.StartsWith('<'),
    };

    /// <summary>The lines smtpctl prints (on standard error) for a command it cannot read.</summary>
    public static IReadOnlyList<string> Possibilities(IReadOnlyList<string> words)
    {
        var known = words.Count > 0 && Unlisted.Any(c => c.StartsWith(words[0] + " ", StringComparison.Ordinal)) ? Unlisted : Commands;
        var patterns = known.Select(c => c.Split(' ')).ToList();
        int matched = 0;
        // Walk down the words while some command has the word (or a placeholder) there.
        while (matched < words.Count)
        {
            int i = matched;
            var next = patterns.Where(p => p.Length > i && Fits(p[i], words[i])).ToList();
            if (next.Count == 0) break;
            patterns = next;
            matched++;
        }
        var children = patterns.Where(p => p.Length > matched).Select(p => p[matched]).Distinct().ToList();
        if (children.Count == 0) return ["invalid command"];
        string prefix = string.Join(' ', words.Take(matched));
        return ["possibilities are:", .. children.Select(c => prefix.Length > 0 ? $"{prefix} {c}" : c)];
    }
}
