using Smtpd.Config;

namespace Smtpd.Tests.Config;

/// <summary>Helpers shared by the configuration tests.</summary>
internal static class ConfigAssert
{
    public const string File = "smtpd.conf";

    public static Ruleset Parse(string text, IReadOnlyDictionary<string, string>? macros = null) =>
        ConfigParser.Parse(text, File, macros);

    /// <summary>Parses text that must fail and returns its errors as "file:line: message" strings.</summary>
    public static IReadOnlyList<string> Errors(string text, IReadOnlyDictionary<string, string>? macros = null)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigParser.Parse(text, File, macros));
        Assert.NotEmpty(e.Errors);
        return e.Errors.Select(x => x.ToString()).ToList();
    }

    /// <summary>Asserts exactly one error, at <paramref name="line"/>, whose message contains <paramref name="fragment"/>.</summary>
    public static void SingleError(string text, int line, string fragment)
    {
        var errors = Errors(text);
        var error = Assert.Single(errors);
        Assert.StartsWith($"{File}:{line}: ", error);
        Assert.Contains(fragment, error);
    }
}
