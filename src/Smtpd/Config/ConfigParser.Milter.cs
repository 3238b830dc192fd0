namespace Smtpd.Config;

// filter NAME milter "ADDRESS" [options] (ours: the Sendmail/Postfix milter protocol).
public sealed partial class ConfigParser
{
    private static FilterSpec.Milter ParseMilter(TokenCursor c, string name)
    {
        string address = c.ExpectValue("milter");
        if (!MilterAddress.TryParse(address, out _))
            throw new ConfigSyntaxException(c.Previous.Location, $"invalid milter address \"{address}\" (inet:HOST:PORT, inet6:HOST:PORT or unix:/path)");
        var spec = new FilterSpec.Milter(address, FilterSpec.Milter.DefaultConnectTimeout, FilterSpec.Milter.DefaultCommandTimeout,
            FilterSpec.Milter.DefaultEomTimeout, MilterFailureAction.TempFail);
        while (!c.AtEnd)
        {
            var word = c.Take();
            spec = (word.Quoted ? "" : word.Text) switch
            {
                "connect-timeout" => spec with { ConnectTimeout = ParseTimeout(c, "connect-timeout") },
                "command-timeout" => spec with { CommandTimeout = ParseTimeout(c, "command-timeout") },
                "eom-timeout" => spec with { EomTimeout = ParseTimeout(c, "eom-timeout") },
                "on-failure" => spec with { OnFailure = ParseFailureAction(c) },
                _ => throw new ConfigSyntaxException(word.Location,
                    $"unknown keyword {word.Display} in filter {name} milter (connect-timeout, command-timeout, eom-timeout or on-failure)"),
            };
        }
        return spec;
    }

    private static TimeSpan ParseTimeout(TokenCursor c, string after)
    {
        var delay = ParseDelay(c, after);
        return delay > TimeSpan.Zero ? delay : throw new ConfigSyntaxException(c.Previous.Location, $"{after} must be more than 0s");
    }

    private static MilterFailureAction ParseFailureAction(TokenCursor c)
    {
        // tempfail, accept and reject are reserved words elsewhere: any unquoted word is read here.
        var word = c.Take();
        return (word.IsWord ? word.Text : "") switch
        {
            "tempfail" => MilterFailureAction.TempFail,
            "accept" => MilterFailureAction.Accept,
            "reject" => MilterFailureAction.Reject,
            _ => throw new ConfigSyntaxException(word.Location, $"invalid on-failure action {word.Display} (tempfail, accept or reject)"),
        };
    }
}
