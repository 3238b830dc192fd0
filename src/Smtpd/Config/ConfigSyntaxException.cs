namespace Smtpd.Config;

/// <summary>Abandons the statement being parsed; the parser records the error and goes on with the
/// next statement, so that one run reports every error in the file.</summary>
internal sealed class ConfigSyntaxException(ConfigLocation location, string message) : Exception(message)
{
    public ConfigLocation Location { get; } = location;

    public ConfigError ToError() => new(Location, Message);
}
