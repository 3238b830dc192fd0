namespace Smtpd.Tests.Reliability;

/// <summary>
/// The reliability tests load the machine on purpose (thousands of connections, kills, a full
/// disk): they run one at a time, after the other tests, so that they neither disturb the
/// others' timing nor measure each other.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ReliabilityCollection
{
    public const string Name = "reliability";
}
