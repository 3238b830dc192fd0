namespace Smtpd.Fuzz;

/// <summary>The targets by name, as <c>Smtpd.Fuzz TARGET</c> and the regression tests name them.</summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyList<string> Names = ["smtp-command", "config", "envelope", "bounce-mime"];

    /// <summary>A new instance of the named target; null for an unknown name.</summary>
    public static IFuzzTarget? Create(string name) => name switch
    {
        "smtp-command" => new SmtpCommandTarget(),
        "config" => new ConfigTarget(),
        "envelope" => new EnvelopeTarget(),
        "bounce-mime" => new BounceMimeTarget(),
        _ => null,
    };
}
