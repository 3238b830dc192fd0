using Smtpd.Config;

namespace Smtpd.Tests.Config;

public class DefaultConfigTests
{
    [Theory]
    [InlineData(true, DeliveryMethod.Mbox)]
    [InlineData(false, DeliveryMethod.Maildir)]
    public void DefaultConfigurationParses(bool privileged, DeliveryMethod local)
    {
        var r = DefaultConfig.Compile(privileged);
        Assert.Equal("(default)", r.Source);
        var listener = Assert.Single(r.Listeners);
        Assert.Equal("localhost", listener.Interface);
        Assert.Empty(listener.Options);

        Assert.Equal(2, r.Rules.Count);
        var deliver = r.Rules[0];
        Assert.Equal(FromCondition.Local, deliver.From);
        Assert.Equal(ForCondition.Local, deliver.For);
        Assert.Equal(local, r.Actions[deliver.ActionName!].Method);
        Assert.Null(r.Actions[deliver.ActionName!].Path); // maildir: ~/Maildir

        // Relaying only for local senders: never an open relay.
        var relay = r.Rules[1];
        Assert.Equal(FromCondition.Local, relay.From);
        Assert.Equal(ForCondition.Any, relay.For);
        Assert.Equal(DeliveryMethod.Relay, r.Actions[relay.ActionName!].Method);
    }

    [Fact]
    public void TextDiffersOnlyInTheLocalDelivery()
    {
        Assert.Contains("action \"local\" mbox", DefaultConfig.Text(true));
        Assert.Contains("action \"local\" maildir", DefaultConfig.Text(false));
    }
}
