namespace Smtpd.Ctl;

/// <summary>The sendmail command line, as mail programs use it.</summary>
public sealed record SendmailOptions
{
    public bool RecipientsFromHeaders { get; init; }
    public string? Sender { get; init; }
    public string? FullName { get; init; }
    public bool IgnoreDots { get; init; }
    public bool SmtpOnStdio { get; init; }
    public bool ListQueue { get; init; }
    /// <summary>Shared by the copies <c>with</c> makes while parsing: there is one list per parse.</summary>
    public List<string> Recipients { get; } = [];

    /// <summary>Flags with an argument that other MTAs' sendmail accept and we ignore.</summary>
    static readonly HashSet<char> IgnoredWithArgument = ['B', 'N', 'O', 'R', 'V', 'X', 'h', 'L', 'C', 'p', 'q', 'r'];

    public static SendmailOptions Parse(string[] args, out string? error)
    {
        error = null;
        var o = new SendmailOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") { o.Recipients.AddRange(args[(i + 1)..]); break; }
            if (a.Length < 2 || a[0] != '-') { o.Recipients.AddRange(a.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)); continue; }
            string Arg() => a.Length > 2 ? a[2..] : ++i < args.Length ? args[i] : throw new ArgumentException($"option {a} needs an argument");
            try
            {
                switch (a[1])
                {
                    case 't': o = o with { RecipientsFromHeaders = true }; break;
                    case 'f': o = o with { Sender = Arg().Trim('<', '>') }; break;
                    case 'r': o = o with { Sender = Arg().Trim('<', '>') }; break; // old name of -f
                    case 'F': o = o with { FullName = Arg() }; break;
                    case 'i': o = o with { IgnoreDots = true }; break;
                    case 'o':
                        string opt = Arg();
                        if (opt == "i") o = o with { IgnoreDots = true };
                        break; // -oem, -odb, -oQ...: other MTAs' options, ignored
                    case 'b':
                        string mode = a.Length > 2 ? a[2..] : "m";
                        if (mode == "s") o = o with { SmtpOnStdio = true };
                        else if (mode == "p") o = o with { ListQueue = true };
                        else if (mode is not ("m" or "i")) { error = $"unsupported mode -b{mode}"; return o; }
                        break;
                    case 'v' or 'U' or 'm' or 'n' or 'G' or 'A' or 'x' or 'e': break;
                    case var c when IgnoredWithArgument.Contains(c): Arg(); break;
                    default: error = $"unknown option {a}"; return o;
                }
            }
            catch (ArgumentException ex) { error = ex.Message; return o; }
        }
        return o;
    }
}
