namespace Smtpd.Mta;

/// <summary>One host to try for a route, with its MX preference and port.</summary>
public sealed record NextHop(string Host, int Preference, int Port);

/// <summary>Where a group of recipients can go: hosts in the order to try, or why nowhere.</summary>
public sealed record Route(IReadOnlyList<NextHop> Hosts, ClientOptions Options, Outcome? Failure = null)
{
    /// <summary>The action's relay host (<c>relay host URL</c>), or null for MX delivery: how <c>show relays</c> names it.</summary>
    public RelayHost? Via { get; init; }

    public static Route Fail(Outcome failure) => new([], null!, failure);
}
