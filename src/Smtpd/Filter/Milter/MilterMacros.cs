namespace Smtpd.Filter.Milter;

/// <summary>
/// Macros (Sendmail's names for what the MTA knows) sent before each stage in SMFIC_MACRO. By
/// default the stages carry Postfix's milter_*_macros, plus the client's and interface's
/// addresses at connect; a milter's SETSYMLIST replaces a stage's list. A macro we have no
/// value for is left out; a stage with none still gets its (empty) packet, as from Postfix 3.7.
/// As Postfix does, each header field gets the end-of-headers macros and each body chunk the
/// end-of-message ones.
/// </summary>
public static class MilterMacros
{
    static readonly Dictionary<MacroStage, string[]> Defaults = new()
    {
        [MacroStage.Connect] = ["j", "{daemon_name}", "{daemon_addr}", "v", "_", "{if_name}", "{if_addr}", "{client_addr}", "{client_port}", "{client_name}"],
        [MacroStage.Helo] = ["{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}"],
        [MacroStage.Mail] = ["i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}"],
        [MacroStage.Rcpt] = ["i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"],
        [MacroStage.Data] = ["i"],
        [MacroStage.EndOfHeaders] = ["i"],
        [MacroStage.EndOfMessage] = ["i"],
    };

    /// <summary>The command a stage's macros precede (the second byte of SMFIC_MACRO).</summary>
    public static byte CommandOf(MacroStage stage) => stage switch
    {
        MacroStage.Connect => MilterCommand.Connect,
        MacroStage.Helo => MilterCommand.Helo,
        MacroStage.Mail => MilterCommand.Mail,
        MacroStage.Rcpt => MilterCommand.Rcpt,
        MacroStage.Data => MilterCommand.Data,
        MacroStage.EndOfHeaders => MilterCommand.EndOfHeaders,
        _ => MilterCommand.EndOfBody,
    };

    /// <summary>The SMFIC_MACRO packet for a stage.</summary>
    /// <param name="value">What a macro name ("j", "{mail_addr}") stands for now, or null.</param>
    /// <param name="command">The command it precedes, when not the stage's own (a header, a body chunk).</param>
    public static MilterPacket Packet(MacroStage stage, MilterNegotiation negotiation, Func<string, string?> value, byte? command = null)
    {
        var names = negotiation.SymbolLists.TryGetValue(stage, out var asked) ? asked : Defaults[stage];
        var strings = new List<string>();
        foreach (var name in names)
        {
            // A SETSYMLIST may name a macro with or without braces ("{mail_addr}" or "mail_addr").
            string key = name.Length > 1 && !name.StartsWith('{') ? "{" + name + "}" : name;
            if (value(key) is { } v) { strings.Add(name); strings.Add(v); }
        }
        // The command byte is not NUL-terminated: it is the first byte of the data.
        var packet = MilterPacket.Strings(MilterCommand.Macro, strings.ToArray());
        return new MilterPacket(MilterCommand.Macro, new[] { command ?? CommandOf(stage) }.Concat(packet.Data.ToArray()).ToArray());
    }
}
