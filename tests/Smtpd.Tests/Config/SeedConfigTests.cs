using Smtpd.Config;

namespace Smtpd.Tests.Config;

/// <summary>Every "Configuration" example of the seed talk (OpenSMTPD 5.3) compiles as it reads.</summary>
public class SeedConfigTests
{
    [Fact]
    public void MinimalistSetup()
    {
        var r = ConfigAssert.Parse("""
            listen on lo0

            table aliases db:/etc/mail/aliases.db

            accept for local alias <aliases> deliver to mbox
            accept for any relay
            """);
        var listener = Assert.Single(r.Listeners);
        Assert.Equal("lo0", listener.Interface);
        Assert.Null(listener.Port);
        var table = r.Tables["aliases"];
        Assert.Equal(TableBackendKind.Db, table.Backend);
        Assert.Equal("/etc/mail/aliases.db", table.Path);
        Assert.Equal(new ConfigLocation("smtpd.conf", 3), table.Location);

        Assert.Equal(2, r.Rules.Count);
        var local = r.Rules[0];
        Assert.False(local.Reject);
        Assert.Equal(FromCondition.Local, local.From);
        Assert.Equal(ForCondition.Local, local.For);
        Assert.Equal("rule-5", local.ActionName);
        var deliver = r.Actions["rule-5"];
        Assert.Equal(DeliveryMethod.Mbox, deliver.Method);
        Assert.Equal("aliases", deliver.AliasTable);

        var relay = r.Rules[1];
        Assert.Equal(FromCondition.Local, relay.From); // the seed's default: only local senders relay
        Assert.Equal(ForCondition.Any, relay.For);
        Assert.Equal(DeliveryMethod.Relay, r.Actions[relay.ActionName!].Method);
        Assert.Null(r.Actions[relay.ActionName!].Host);
    }

    [Fact]
    public void PrimaryDomainWithContinuation()
    {
        var r = ConfigAssert.Parse("""
            listen on egress

            table aliases db:/etc/mail/aliases.db

            accept from any for domain "example.org" \
            		 alias <aliases> deliver to mbox
            accept for local alias <aliases> deliver to mbox
            accept for any relay
            """);
        Assert.Equal(3, r.Rules.Count);
        var first = r.Rules[0];
        Assert.Equal(FromCondition.Any, first.From);
        Assert.Equal(new ForCondition(ForKind.Domain, Domain: "example.org"), first.For);
        Assert.Equal(5, first.Location.Line);
        Assert.Equal("aliases", r.Actions[first.ActionName!].AliasTable);
        // Line numbers keep counting through the continuation.
        Assert.Equal(7, r.Rules[1].Location.Line);
    }

    [Fact]
    public void Smarthost()
    {
        var r = ConfigAssert.Parse("""
            listen on lo0

            # format:  "label   login:password"
            table secrets file:/etc/mail/secrets
            table aliases db:/etc/mail/aliases.db

            accept for local alias <aliases> deliver to mbox
            accept for any relay                    \
                via smtps+auth://label@smtps.my.isp \
                auth <secrets>
            """);
        Assert.Equal(TableBackendKind.File, r.Tables["secrets"].Backend);
        var relay = r.Actions[r.Rules[1].ActionName!];
        Assert.Equal(DeliveryMethod.Relay, relay.Method);
        Assert.Equal("smtps+auth://label@smtps.my.isp", relay.Host);
        Assert.Equal("secrets", relay.AuthTable);
    }

    [Fact]
    public void BackupServer()
    {
        var r = ConfigAssert.Parse("""
            listen on egress

            table poolp { poolp.org, opensmtpd.org }

            accept for local deliver to mbox

            accept from any for domain example.org relay \
                backup mx4.example.org

            accept from any for domain <poolp> relay \
                backup mx2.poolp.org
            """);
        Assert.Equal(["poolp.org", "opensmtpd.org"], r.Tables["poolp"].List);
        Assert.Equal(TableBackendKind.Static, r.Tables["poolp"].Backend);
        Assert.Equal("mx4.example.org", r.Actions[r.Rules[1].ActionName!].Backup);
        Assert.Equal(new ForCondition(ForKind.Domain, Table: "poolp"), r.Rules[2].For);
        Assert.Equal("mx2.poolp.org", r.Actions[r.Rules[2].ActionName!].Backup);
    }

    [Fact]
    public void DkimProxyWithTags()
    {
        var r = ConfigAssert.Parse("""
            listen on lo0
            listen on lo0 port 10029 tag DKIM

            accept for local deliver to mbox
            accept tagged DKIM for any relay
            accept for any relay via smtp://127.0.0.1:10028
            """);
        Assert.Equal(10029, r.Listeners[1].Port);
        Assert.Equal("DKIM", r.Listeners[1].Tag);
        Assert.Null(r.Rules[0].Tag);
        Assert.Equal("DKIM", r.Rules[1].Tag);
        Assert.Null(r.Actions[r.Rules[1].ActionName!].Host);
        Assert.Equal("smtp://127.0.0.1:10028", r.Actions[r.Rules[2].ActionName!].Host);
    }

    [Fact]
    public void AuthenticatingRelay()
    {
        var r = ConfigAssert.Parse("""
            listen on egress port submission tls \
                             certificate my.cert auth

            accept from any for domain "opensmtpd.org" \
                             deliver to maildir

            accept for any relay
            """);
        var listener = Assert.Single(r.Listeners);
        Assert.Equal(587, listener.Port);
        Assert.Equal(["tls", "certificate my.cert", "auth"], listener.Options);
        var maildir = r.Actions[r.Rules[0].ActionName!];
        Assert.Equal(DeliveryMethod.Maildir, maildir.Method);
        Assert.Null(maildir.Path); // ~/Maildir
    }

    [Fact]
    public void VirtualUsers()
    {
        var r = ConfigAssert.Parse("""
            listen on egress

            table usr { "alice" = "100:100:/var/vusers/alice",
                        "bob" = "100:100:/var/vusers/bob" }

            accept from any for domain "wonderland.org" \
                   userbase <usr> deliver to maildir

            accept for any relay
            """);
        var usr = r.Tables["usr"];
        Assert.True(usr.IsMap);
        Assert.Equal("100:100:/var/vusers/bob", usr.Map["bob"]);
        Assert.Equal("usr", r.Actions[r.Rules[0].ActionName!].UserbaseTable);
        // The table ends on line 4, so the rule is on line 6.
        Assert.Equal(6, r.Rules[0].Location.Line);
    }

    [Fact]
    public void RejectSenderInlineVirtualAndExpire()
    {
        var r = ConfigAssert.Parse("""
            table spammers { "@spam.example" }
            reject from any sender <spammers> for any
            accept from source { 192.168.0.0/24 } for domain example.org virtual { "@example.org" = bob } deliver to mda "/usr/bin/procmail -f -" expire 2d
            accept from 10.0.0.1 for any relay via "smtp://[::1]:2525" as "bounces@example.org"
            """);
        var reject = r.Rules[0];
        Assert.True(reject.Reject);
        Assert.Null(reject.ActionName);
        Assert.Equal(new MatchCondition(MatchKind.MailFrom, "spammers"), Assert.Single(reject.Conditions));
        Assert.DoesNotContain(r.Actions.Keys, k => k == "rule-2");

        var accept = r.Rules[1];
        Assert.Equal(FromKind.Source, accept.From.Kind);
        Assert.Equal(["192.168.0.0/24"], r.Tables[accept.From.Table!].List);
        var action = r.Actions["rule-3"];
        Assert.Equal(DeliveryMethod.Mda, action.Method);
        Assert.Equal("/usr/bin/procmail -f -", action.Path);
        Assert.Equal(TimeSpan.FromDays(2), action.Ttl);
        Assert.Equal("bob", r.Tables[action.VirtualTable!].Map["@example.org"]);

        Assert.Equal(["10.0.0.1"], r.Tables[r.Rules[2].From.Table!].List);
        Assert.Equal("smtp://[::1]:2525", r.Actions["rule-4"].Host);
        Assert.Equal("bounces@example.org", r.Actions["rule-4"].MailFrom);
    }

    [Fact]
    public void SeedGlobalsAndDeliveries()
    {
        var r = ConfigAssert.Parse("""
            max-message-size 10M
            expire 3d
            queue compress
            queue encrypt key 0123456789abcdef
            bounce-warn 1h, 6h
            accept for local deliver to lmtp "127.0.0.1:24"
            accept for domain example.net deliver to maildir "/var/mail/%u"
            """);
        Assert.Equal(10L * 1024 * 1024, r.MaxMessageSize);
        Assert.Equal(TimeSpan.FromDays(3), r.Expire);
        Assert.True(r.QueueCompression);
        Assert.True(r.QueueEncryption);
        Assert.Equal("0123456789abcdef", r.QueueEncryptionKey);
        Assert.Equal([TimeSpan.FromHours(1), TimeSpan.FromHours(6)], r.BounceWarnIntervals);
        Assert.Equal(DeliveryMethod.Lmtp, r.Actions["rule-6"].Method);
        Assert.Equal("127.0.0.1:24", r.Actions["rule-6"].Path);
        Assert.Equal("/var/mail/%u", r.Actions["rule-7"].Path);
    }
}
