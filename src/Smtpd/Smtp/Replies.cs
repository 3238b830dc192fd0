namespace Smtpd.Smtp;

/// <summary>
/// Every reply the server sends, in one place. Texts stay short and generic; details go to the
/// log. Fixed replies are built once and pre-encoded.
/// </summary>
public static class Replies
{
    // 2xx
    public static Reply Banner(string name) => new(220, null, $"{name} ESMTP smtpd");
    public static Reply Bye(string name) => new(221, "2.0.0", "Bye");
    public static readonly Reply Ok = new(250, "2.0.0", "Ok");
    public static readonly Reply ResetOk = new(250, "2.0.0", "Reset state");
    public static readonly Reply SenderOk = new(250, "2.0.0", "Ok");
    public static readonly Reply RecipientOk = new(250, "2.1.5", "Destination address valid: Recipient ok");
    public static Reply Accepted(uint msgid) => new(250, "2.0.0", $"{msgid:x8} Message accepted for delivery");
    public static Reply Hello(string name, string helo, string client) => new(250, null, $"{name} Hello {helo} [{client}], pleased to meet you");
    public static Reply Ehlo(string name, string helo, string client, long maxSize, bool startTls = false, bool auth = false, bool dsn = false) => new(250, null,
        [
            $"{name} Hello {helo} [{client}], pleased to meet you",
            "8BITMIME", "ENHANCEDSTATUSCODES", "PIPELINING", $"SIZE {maxSize}",
            .. dsn ? new[] { "DSN" } : [],
            .. startTls ? new[] { "STARTTLS" } : [],
            .. auth ? new[] { "AUTH PLAIN LOGIN" } : [],
            "HELP",
        ]);
    public static readonly Reply Help = new(214, "2.0.0",
        "This is smtpd for .NET, an OpenSMTPD-compatible server",
        "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP HELP QUIT",
        "End of HELP info");
    public static readonly Reply ReadyToStartTls = new(220, "2.0.0", "Ready to start TLS");
    public static readonly Reply AuthSucceeded = new(235, "2.0.0", "Authentication succeeded");
    public static Reply AuthChallenge(string base64) => new(334, null, base64);
    public static readonly Reply StartData = new(354, null, "Enter mail, end with \".\" on a line by itself");

    // 4xx: temporary trouble, never a 5xx.
    public static readonly Reply Timeout = new(421, "4.4.2", "Timeout, closing connection");
    public static readonly Reply TooManyErrors = new(421, "4.7.0", "Too many errors, closing connection");
    public static readonly Reply Paused = new(421, "4.3.2", "Service temporarily unavailable, try again later");
    public static readonly Reply ShuttingDown = new(421, "4.3.2", "Service shutting down, closing connection");
    public static readonly Reply TooManyAuthFailures = new(421, "4.7.0", "Too many authentication failures, closing connection");
    public static readonly Reply AuthTempFailure = new(454, "4.7.0", "Temporary authentication failure");
    public static readonly Reply TempFailure = new(451, "4.3.0", "Temporary failure");
    public static readonly Reply FilterUnavailable = new(421, "4.3.0", "Service temporarily unavailable, closing connection");
    public static readonly Reply FilterFailure = new(451, "4.3.0", "Temporary failure, please try again later");
    public static readonly Reply FilterInternalError = new(421, null, "Internal server error");

    /// <summary>
    /// A reply a filter chose ("550 You're not welcome", "451 4.7.1 later"), sent as the filter
    /// wrote it; one that is not a 4xx or 5xx reply becomes 421 (smtp_session.c does the same).
    /// </summary>
    public static Reply FromFilter(string text)
    {
        // A milter's SMFIR_REPLYCODE may span lines ("550-5.7.1 a\r\n550 5.7.1 b"): one reply, one code.
        if (text.Contains("\r\n", StringComparison.Ordinal)) return FromMultiLine(text.Split("\r\n"));
        if (!Config.ConfigParser.IsValidFilterReply(text)) return FilterInternalError;
        int code = int.Parse(text.AsSpan(0, 3), System.Globalization.CultureInfo.InvariantCulture);
        string rest = text.Length > 4 ? text[4..] : "";
        string[] words = rest.Split(' ', 2);
        bool enhanced = words[0].Length >= 5 && words[0][0] == text[0] && words[0][1] == '.' && words[0].Count(ch => ch == '.') == 2
            && words[0].All(ch => ch == '.' || char.IsAsciiDigit(ch));
        string clean = new(rest.Select(ch => ch < 0x20 ? ' ' : ch).ToArray());
        return enhanced ? new Reply(code, words[0], words.Length > 1 ? clean[(words[0].Length + 1)..] : "") : new Reply(code, null, clean);
    }
    /// <summary>The lines of a multi-line reply, each "CODE-text" but the last "CODE text"; the code and enhanced code of the first.</summary>
    static Reply FromMultiLine(string[] lines)
    {
        var first = FromFilter(lines[0].Length > 3 && lines[0][3] == '-' ? lines[0][..3] + " " + lines[0][4..] : lines[0]);
        if (first == FilterInternalError) return first;
        var texts = new List<string>();
        foreach (var line in lines)
        {
            if (line.Length < 3 || line[..3] != first.Code.ToString(System.Globalization.CultureInfo.InvariantCulture)) return FilterInternalError;
            string rest = line.Length > 4 ? line[4..] : "";
            if (first.Enhanced is { } e && rest.StartsWith(e + " ", StringComparison.Ordinal)) rest = rest[(e.Length + 1)..];
            texts.Add(new string(rest.Select(ch => ch < 0x20 ? ' ' : ch).ToArray()));
        }
        return new Reply(first.Code, first.Enhanced, [.. texts]);
    }

    public static readonly Reply QueueFailure = new(451, "4.3.0", "Temporary failure, message not accepted");
    /// <summary>Every message-file slot stayed taken (the descriptor limit is low and the server busy).</summary>
    public static readonly Reply NoDescriptor = new(451, "4.3.2", "System busy, try again later");
    public static readonly Reply TooManyRecipients = new(452, "4.5.3", "Too many recipients");
    public static readonly Reply TooManyMessages = new(452, "4.5.3", "Too many messages sent in this session");
    public static readonly Reply InsufficientStorage = new(452, "4.3.1", "Insufficient system storage");

    // 5xx
    public static Reply Unrecognized(string verb) => new(500, "5.5.1", $"{verb}: Command unrecognized");
    public static readonly Reply LineTooLong = new(500, "5.5.2", "Line too long");
    public static readonly Reply CommandLineTooLong = new(500, "5.5.2", "Command line too long");
    public static readonly Reply NulInCommand = new(500, "5.5.2", "Syntax error: NUL byte in command");
    public static readonly Reply CommandNotUtf8 = new(500, "5.5.2", "Syntax error: command is not valid UTF-8");
    public static Reply NoArguments(string verb) => new(500, "5.5.4", $"{verb}: command does not accept arguments");
    public static Reply HeloNoDomain(string verb) => new(501, "5.5.1", $"{verb}: requires a domain name");
    public static Reply HeloSyntax(string verb) => new(501, "5.5.4", $"{verb}: requires a valid domain name");
    public static readonly Reply SyntaxError = new(501, "5.5.4", "Syntax error");
    public static readonly Reply NoParametersAllowed = new(501, "5.5.4", "No parameters allowed");
    public static readonly Reply NoParametersGiven = new(501, "5.5.4", "No parameters given");
    public static readonly Reply AuthCancelled = new(501, "5.0.0", "Authentication cancelled");
    public static readonly Reply AuthSyntax = new(501, "5.5.2", "Syntax error in authentication data");
    public static readonly Reply StartTlsPipelining = new(501, "5.5.1", "STARTTLS: pipelined commands after STARTTLS are not allowed");
    public static readonly Reply RecipientSyntax = new(501, "5.1.3", "Recipient address syntax error");
    public static readonly Reply VrfyDisabled = new(502, "5.5.1", "VRFY command is disabled");
    public static readonly Reply ExpnDisabled = new(502, "5.5.1", "EXPN command is disabled");
    public static readonly Reply NotAllowedNow = new(503, "5.5.1", "Command not allowed at this point.");
    public static readonly Reply NotSupported = new(503, "5.5.1", "Command not supported");
    public static readonly Reply AlreadySecured = new(503, "5.5.1", "Channel already secured");
    public static readonly Reply AlreadyAuthenticated = new(503, "5.5.1", "Already authenticated");
    public static Reply AuthMechanismNotSupported(string m) => new(504, "5.5.4", $"AUTH method \"{m}\" not supported");
    public static readonly Reply StartTlsFirst = new(530, "5.7.0", "Must issue a STARTTLS command first");
    public static readonly Reply AuthFirst = new(530, "5.7.0", "Must issue an AUTH command first");
    public static readonly Reply AuthFailed = new(535, "5.7.8", "Authentication failed");
    public static readonly Reply EncryptionRequired = new(538, "5.7.11", "Encryption required for requested authentication mechanism");
    public static readonly Reply HeloFirst = new(503, "5.5.1", "Polite people say HELO first");
    public static readonly Reply AlreadyIdentified = new(503, "5.5.1", "Already identified");
    public static readonly Reply NestedMail = new(503, "5.5.1", "Sender already specified");
    public static readonly Reply NeedMail = new(503, "5.5.1", "Need MAIL before RCPT");
    public static readonly Reply NeedRcpt = new(503, "5.5.4", "No recipient specified");
    public static Reply UnsupportedParameter(string p) => new(555, "5.5.4", $"Unsupported option {p}");
    public static readonly Reply UnknownUser = new(550, "5.1.1", "Invalid recipient");
    /// <summary>A refusal at RCPT names the recipient, as OpenSMTPD's does ("550 Invalid recipient: &lt;a@b&gt;").</summary>
    public static Reply NamingRecipient(Reply refusal, MailAddress rcpt) =>
        new(refusal.Code, refusal.Enhanced, $"{refusal.Lines[0]}: <{rcpt}>");
    /// <summary>
    /// No rule accepts the recipient, or a reject rule matched: OpenSMTPD's words ("Invalid recipient"),
    /// with the enhanced code that tells the sender it is a policy refusal, not a bad mailbox (RFC 3463 X.7.1).
    /// </summary>
    public static readonly Reply RecipientNotAuthorized = new(550, "5.7.1", "Invalid recipient");
    public static readonly Reply MessageTooBig = new(552, "5.3.4", "Message too big for system");
    public static readonly Reply HeaderTooBig = new(552, "5.3.4", "Message header too large");
    public static readonly Reply BadNotify = new(501, "5.5.4", "NOTIFY: NEVER, or a list of SUCCESS, FAILURE, DELAY");
    public static readonly Reply BadOrcpt = new(501, "5.5.4", "ORCPT: address type and address expected (rfc822;user@domain)");
    public static Reply BadDsnParameter(string p) => new(501, "5.5.4", $"{p}: invalid value");
    public static readonly Reply SenderNotOwned = new(553, "5.7.1", "Sender address not allowed for this user");
    public static readonly Reply SenderSyntax = new(553, "5.1.0", "Sender address syntax error");
    public static readonly Reply TooManyHops = new(554, "5.4.6", "Too many hops, mail loop detected");
}
