using System.Text;
using Smtpd.Config;
using Smtpd.Smtp.Tls;

namespace Smtpd.Fuzz;

/// <summary>
/// smtpd.conf text through <see cref="ConfigParser.Parse"/>, then what <c>smtpd -n</c> does with
/// a compiled ruleset short of opening tables. Its one defined failure is <see cref="ConfigException"/>,
/// whose errors point into the text. The file name is in a folder that does not exist, so that
/// a relative <c>include</c> fails as a located error.
/// </summary>
public sealed class ConfigTarget : IFuzzTarget
{
    const string FileName = "/nonexistent/smtpd-fuzz/smtpd.conf";
    static readonly Dictionary<string, string> Macros = new() { ["cmdline"] = "lo0" };

    public string Name => "config";

    public void Run(byte[] input)
    {
        string text = Encoding.UTF8.GetString(input);
        Ruleset ruleset;
        try
        {
            ruleset = ConfigParser.Parse(text, FileName, Macros);
        }
        catch (ConfigException e)
        {
            int lines = text.Count(c => c == '\n') + 1;
            foreach (var error in e.Errors)
                if (error.Location.File == FileName && (error.Location.Line < 1 || error.Location.Line > lines))
                    throw new BrokenInvariantException($"error at line {error.Location.Line} of a {lines}-line file: {error.Message}");
            return;
        }
        RulesetSupport.Unsupported(ruleset);
        foreach (var listener in ruleset.Listeners) ListenerSecurity.From(listener);
        if (ruleset.Rules.Count == 0) throw new BrokenInvariantException("a ruleset without rules compiled");
    }
}
