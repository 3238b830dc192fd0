using Smtpd.Config;

namespace Smtpd.Tests.Config;

/// <summary>Configurations of OpenSMTPD 6.4+, mostly the EXAMPLES of smtpd.conf(5).</summary>
public class ModernConfigTests
{
    [Fact]
    public void SmarthostExample()
    {
        var r = ConfigAssert.Parse("""
            table aliases file:/etc/mail/aliases
            table secrets file:/etc/mail/secrets

            listen on lo0

            action "local_mail" mbox alias <aliases>
            action "outbound" relay host smtp+tls://bob@smtp.example.com \
                    auth <secrets>

            match from local for local action "local_mail"
            match from local for any action "outbound"
            """);
        Assert.Equal(TableBackendKind.File, r.Tables["aliases"].Backend);
        var local = r.Actions["local_mail"];
        Assert.Equal(DeliveryMethod.Mbox, local.Method);
        Assert.Equal("aliases", local.AliasTable);
        var outbound = r.Actions["outbound"];
        Assert.Equal(DeliveryMethod.Relay, outbound.Method);
        Assert.Equal("smtp+tls://bob@smtp.example.com", outbound.Host);
        Assert.Equal("secrets", outbound.AuthTable);
        Assert.Equal(["local_mail", "outbound"], r.Rules.Select(x => x.ActionName));
        Assert.Equal(ForCondition.Any, r.Rules[1].For);
    }

    [Fact]
    public void AuthenticatedMdaExample()
    {
        var r = ConfigAssert.Parse("""
            pki mail.example.com cert "/etc/ssl/mail.example.com.crt"
            pki mail.example.com key "/etc/ssl/private/mail.example.com.key"

            table aliases file:/etc/mail/aliases

            listen on lo0
            listen on egress tls pki mail.example.com auth

            action mda_with_aliases mda "/path/to/mda -f -" alias <aliases>
            action mda_without_aliases mda "/path/to/mda -f -"
            action "outbound" relay

            match for local action mda_with_aliases
            match from any for domain example.com action mda_without_aliases
            match for any action "outbound"
            match auth from any for any action "outbound"
            """);
        var pki = r.Pkis["mail.example.com"];
        Assert.Equal("/etc/ssl/mail.example.com.crt", pki.CertificateFile);
        Assert.Equal("/etc/ssl/private/mail.example.com.key", pki.KeyFile);
        Assert.Equal(["tls", "pki mail.example.com", "auth"], r.Listeners[1].Options);
        Assert.True(r.Listeners[1].HasOption("pki"));
        Assert.False(r.Listeners[0].HasOption("tls"));
        Assert.Equal("/path/to/mda -f -", r.Actions["mda_with_aliases"].Path);

        // "match for local": from defaults to local.
        Assert.Equal(FromCondition.Local, r.Rules[0].From);
        Assert.Equal(new ForCondition(ForKind.Domain, Domain: "example.com"), r.Rules[1].For);
        Assert.Equal(FromCondition.Local, r.Rules[2].From);
        Assert.Equal(FromCondition.Any, r.Rules[3].From);
        Assert.Equal(new MatchCondition(MatchKind.Auth), Assert.Single(r.Rules[3].Conditions));
    }

    [Fact]
    public void DkimFilterExampleIsRecorded()
    {
        var r = ConfigAssert.Parse("""
            table aliases file:/etc/mail/aliases

            filter "dkimsign" proc-exec "filter-dkimsign -d <domain> -s <selector> \
                    -k /etc/mail/dkim/private.key" user _dkimsign group _dkimsign

            listen on socket filter "dkimsign"
            listen on lo0 filter "dkimsign"

            action "local_mail" mbox alias <aliases>
            action "outbound" relay

            match for local action "local_mail"
            match for any action "outbound"
            """);
        var filter = r.Filters["dkimsign"];
        Assert.Equal("filter", filter.Keyword);
        // The quoted command spans two lines: the line break is dropped, the indentation is kept.
        Assert.StartsWith("proc-exec \"filter-dkimsign -d <domain> -s <selector> ", filter.Definition);
        Assert.EndsWith(" -k /etc/mail/dkim/private.key\" user _dkimsign group _dkimsign", filter.Definition);
        var process = Assert.IsType<FilterSpec.Process>(filter.Spec);
        Assert.EndsWith("-k /etc/mail/dkim/private.key", process.Command);
        Assert.Equal("_dkimsign", process.User);
        Assert.True(r.Listeners[0].IsSocket);
        Assert.Equal(["filter dkimsign"], r.Listeners[0].Options);
        Assert.Equal(["filter dkimsign"], r.Listeners[1].Options);
    }

    [Fact]
    public void ForgedSenderExample()
    {
        var r = ConfigAssert.Parse("""
            table aliases file:/etc/mail/aliases
            table other-relays file:/etc/mail/other-relays

            listen on lo0
            listen on egress

            action "local_mail" mbox alias <aliases>
            action "outbound" relay

            match for local action "local_mail"
            match for any action "outbound"
            match !from src <other-relays> mail-from "@example.com" for any \
                  reject
            match from any for domain example.com action "local_mail"
            """);
        Assert.Equal(4, r.Rules.Count);
        var reject = r.Rules[2];
        Assert.True(reject.Reject);
        Assert.Equal(new FromCondition(FromKind.Source, "other-relays", Negate: true), reject.From);
        var mailFrom = Assert.Single(reject.Conditions);
        Assert.Equal(MatchKind.MailFrom, mailFrom.Kind);
        Assert.False(mailFrom.Negate);
        Assert.Equal(["@example.com"], r.Tables[mailFrom.Table!].List);
        Assert.Equal("local_mail", r.Rules[3].ActionName);
    }

    [Fact]
    public void LocalActionOptions()
    {
        var r = ConfigAssert.Parse("""
            table vusers { "@example.org" = vmail }
            table users { alice = "1000:1000:/home/alice" }
            mda wrapper spam "/usr/bin/spamc %{mda}"
            action a maildir "~/Mail" junk virtual <vusers> user vmail ttl 2h
            action b maildir junk userbase <users>
            action c lmtp "/var/run/dovecot/lmtp" rcpt-to
            action d mda "/usr/bin/procmail" wrapper spam
            action e expand-only
            action f forward-only alias { root = admin }
            match for any action a
            """);
        var a = r.Actions["a"];
        Assert.Equal(DeliveryMethod.Maildir, a.Method);
        Assert.Equal("~/Mail", a.Path);
        Assert.True(a.Junk);
        Assert.Equal("vusers", a.VirtualTable);
        Assert.Equal("vmail", a.User);
        Assert.Equal(TimeSpan.FromHours(2), a.Ttl);
        Assert.Null(r.Actions["b"].Path);
        Assert.True(r.Actions["b"].Junk);
        Assert.True(r.Actions["c"].LmtpRcptTo);
        Assert.Equal("spam", r.Actions["d"].Wrapper);
        Assert.Equal(DeliveryMethod.ExpandOnly, r.Actions["e"].Method);
        Assert.True(r.Actions["e"].IsLocal);
        Assert.Equal("admin", r.Tables[r.Actions["f"].AliasTable!].Map["root"]);
    }

    [Fact]
    public void RelayActionOptions()
    {
        var r = ConfigAssert.Parse("""
            pki client cert "/etc/ssl/c.crt"
            pki client key "/etc/ssl/c.key"
            ca myca cert "/etc/ssl/ca.pem"
            srs key "s3cret"
            table sources { 192.0.2.1, 192.0.2.2 }
            action backup_mx relay backup mx mx1.example.org helo mail.example.org src <sources> tls no-verify pki client ca myca srs mail-from "bounce@example.org"
            action plain relay backup
            match for any action backup_mx
            """);
        var mx = r.Actions["backup_mx"];
        Assert.Equal("mx1.example.org", mx.Backup);
        Assert.Equal("mail.example.org", mx.Helo);
        Assert.Equal("sources", mx.SourceTable);
        Assert.True(mx.RequireTls);
        Assert.True(mx.TlsNoVerify);
        Assert.Equal("client", mx.Pki);
        Assert.Equal("myca", mx.Ca);
        Assert.True(mx.Srs);
        Assert.Equal("bounce@example.org", mx.MailFrom);
        Assert.Equal("", r.Actions["plain"].Backup);
        Assert.Equal("/etc/ssl/ca.pem", r.Cas["myca"].CertificateFile);
        Assert.Equal("s3cret", r.SrsKey);
    }

    [Fact]
    public void MatchOptions()
    {
        var r = ConfigAssert.Parse("""
            table users { alice, bob }
            action out relay
            match from auth <users> for any action out
            match from socket for any action out
            match from rdns for any action out
            match from mail-from "@example.org" ! for domain regex ".*\.example\.com" action out
            match from any for rcpt-to <users> action out
            match tag DKIM !tls helo "mx.example.org" for any action out
            match !tag DKIM for any action out
            match from src "192.0.2.0/24" for domain { a.example, b.example } reject
            """);
        Assert.Equal(new FromCondition(FromKind.Auth, "users"), r.Rules[0].From);
        Assert.Equal(FromKind.Socket, r.Rules[1].From.Kind);
        Assert.Equal(new FromCondition(FromKind.Rdns), r.Rules[2].From);

        Assert.Equal(FromCondition.Any, r.Rules[3].From);
        Assert.Equal(MatchKind.MailFrom, Assert.Single(r.Rules[3].Conditions).Kind);
        var forDomain = r.Rules[3].For;
        Assert.True(forDomain.Negate);
        Assert.True(forDomain.Regex);
        Assert.Equal(@".*\.example\.com", forDomain.Domain);

        Assert.Equal(ForCondition.Any, r.Rules[4].For);
        Assert.Equal(new MatchCondition(MatchKind.RcptTo, "users"), Assert.Single(r.Rules[4].Conditions));

        Assert.Equal("DKIM", r.Rules[5].Tag);
        Assert.Equal(ForCondition.Any, r.Rules[5].For);
        Assert.Equal(new MatchCondition(MatchKind.Tls, Negate: true), r.Rules[5].Conditions[0]);
        Assert.Equal(MatchKind.Helo, r.Rules[5].Conditions[1].Kind);

        Assert.Null(r.Rules[6].Tag);
        var notTagged = Assert.Single(r.Rules[6].Conditions);
        Assert.Equal(MatchKind.Tag, notTagged.Kind);
        Assert.True(notTagged.Negate);

        var last = r.Rules[7];
        Assert.True(last.Reject);
        Assert.Equal(["192.0.2.0/24"], r.Tables[last.From.Table!].List);
        Assert.Equal(["a.example", "b.example"], r.Tables[last.For.Table!].List);
    }

    [Fact]
    public void FirstMatchOrderIsKept()
    {
        var r = ConfigAssert.Parse("""
            action one mbox
            action two relay
            match from any for domain "a.example" action two
            accept for local deliver to mbox
            match for local action one
            match from any for any reject
            """);
        Assert.Equal([3, 4, 5, 6], r.Rules.Select(x => x.Location.Line));
        Assert.Equal(["two", "rule-4", "one", null], r.Rules.Select(x => x.ActionName));
        Assert.True(r.Rules[3].Reject);
    }

    [Fact]
    public void GlobalSettings()
    {
        var r = ConfigAssert.Parse("""
            hostname mx.example.org
            smtp max-message-size 512K
            smtp limit max-mails 10 max-rcpt 50
            smtp sub-addr-delim "-"
            queue compression
            queue encryption -
            queue ttl 12h
            bounce warn-interval 1h, 2h, 1d
            mta max-deferred 20
            admd example.org
            srs ttl 7d
            match for local reject
            """);
        Assert.Equal("mx.example.org", r.Hostname);
        Assert.Equal(512L * 1024, r.MaxMessageSize);
        Assert.Equal(10, r.MaxMailsPerSession);
        Assert.Equal(50, r.MaxRecipientsPerTransaction);
        Assert.Equal('-', r.SubAddressDelimiter);
        Assert.True(r.QueueCompression);
        Assert.Equal("stdin", r.QueueEncryptionKey);
        Assert.Equal(TimeSpan.FromHours(12), r.Expire);
        Assert.Equal(3, r.BounceWarnIntervals.Count);
        Assert.Equal(20, r.MtaMaxDeferred);
        Assert.Equal("example.org", r.Admd);
        Assert.Equal(TimeSpan.FromDays(7), r.SrsTtl);
        Assert.Equal("smtpd.conf", r.Source);
    }

    [Fact]
    public void HostnameDefaultsToTheMachineName()
    {
        var r = ConfigAssert.Parse("match for local reject");
        Assert.Equal(System.Net.Dns.GetHostName(), r.Hostname);
        Assert.Equal(35L * 1024 * 1024, r.MaxMessageSize);
        Assert.Equal(TimeSpan.FromDays(4), r.Expire);
    }

    [Fact]
    public void ListenOptions()
    {
        var r = ConfigAssert.Parse("""
            pki mxpki cert "/c"
            pki mxpki key "/k"
            table creds file:/etc/mail/creds
            table allowed file:/etc/mail/senders
            listen on 0.0.0.0 port 465 smtps pki mxpki auth-optional <creds> senders <allowed> masquerade mask-src inet4 hostname mx.example.org tag IN
            listen on ::1 port smtps tls-require verify auth <creds> no-dsn received-auth
            listen on socket tag LOCAL mask-src
            match for local reject
            """);
        var smtps = r.Listeners[0];
        Assert.Equal("0.0.0.0", smtps.Interface);
        Assert.Equal(465, smtps.Port);
        Assert.Equal("mx.example.org", smtps.Hostname);
        Assert.Equal("IN", smtps.Tag);
        Assert.Equal(["smtps", "pki mxpki", "auth-optional <creds>", "senders <allowed> masquerade", "mask-src", "inet4"], smtps.Options);
        Assert.Equal(["tls-require verify", "auth <creds>", "no-dsn", "received-auth"], r.Listeners[1].Options);
        Assert.Equal(465, r.Listeners[1].Port);
        Assert.True(r.Listeners[2].IsSocket);
        Assert.Equal("LOCAL", r.Listeners[2].Tag);
    }

    [Fact]
    public void TableForms()
    {
        var r = ConfigAssert.Parse("""
            table a static { one, "two words" }
            table b { "k 1" = "v 1", k2 => v2 }
            table c /etc/mail/c
            table d file:/etc/mail/d
            table e db:/etc/mail/e.db
            table f {
                x,
                y
                z
            }
            match for local reject
            """);
        Assert.Equal(["one", "two words"], r.Tables["a"].List);
        Assert.Equal("v 1", r.Tables["b"].Map["k 1"]);
        Assert.Equal("v2", r.Tables["b"].Map["k2"]);
        Assert.Equal((TableBackendKind.File, "/etc/mail/c"), (r.Tables["c"].Backend, r.Tables["c"].Path));
        Assert.Equal((TableBackendKind.File, "/etc/mail/d"), (r.Tables["d"].Backend, r.Tables["d"].Path));
        Assert.Equal((TableBackendKind.Db, "/etc/mail/e.db"), (r.Tables["e"].Backend, r.Tables["e"].Path));
        Assert.Equal(["x", "y", "z"], r.Tables["f"].List);
        Assert.Equal(11, r.Rules[0].Location.Line);
    }
}
