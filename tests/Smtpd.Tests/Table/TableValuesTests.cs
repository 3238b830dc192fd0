using System.Net;
using Smtpd.Table;

namespace Smtpd.Tests.Table;

// What each table service accepts as a key or value (issue 8: values parsed per service).
public sealed class TableValuesTests
{
    [Theory]
    [InlineData("192.0.2.1", true)]
    [InlineData("192.0.2.0/24", true)]
    [InlineData("10/8", true)]            // inet_net_pton's short form, with a prefix
    [InlineData("192.168/16", true)]
    [InlineData("2001:db8::/32", true)]
    [InlineData("::1", true)]
    [InlineData("[IPv6:2001:db8::1]", true)]
    [InlineData("10", false)]             // IPAddress.TryParse would read 0.0.0.10
    [InlineData("10.1", false)]
    [InlineData("192.0.2.300", false)]
    [InlineData("010.0.0.1", false)]      // a leading zero: octal to some, refused by inet_pton
    [InlineData("192.0.2.0/33", false)]
    [InlineData("192.0.2.0/", false)]
    [InlineData("2001:db8::/129", false)]
    [InlineData("mx.example.org", false)]
    public void Netaddr_entries_are_addresses_or_networks(string entry, bool good) =>
        Assert.Equal(good, TableValues.NetworkProblem(entry) is null);

    [Fact]
    public void A_static_table_matches_the_short_network_form_and_not_a_lone_number()
    {
        var table = new StaticTable("t", ["10/8", "1"], []);
        Assert.True(table.Check(TableService.NetAddr, "10.20.30.40"));
        Assert.False(table.Check(TableService.NetAddr, "11.0.0.1"));
        Assert.False(table.Check(TableService.NetAddr, "0.0.0.1"));
    }

    [Theory]
    [InlineData("192.0.2.1", true)]
    [InlineData("2001:db8::1", true)]
    [InlineData("192.0.2.0/24", false)]
    [InlineData("localhost", false)]
    public void Source_entries_are_single_addresses(string entry, bool good) =>
        Assert.Equal(good, TableValues.AddressProblem(entry) is null);

    [Theory]
    [InlineData("example.org", true)]
    [InlineData("*.example.org", true)]
    [InlineData("mx-1.sub_domain.example.org.", true)]
    [InlineData("bücher.example", true)]
    [InlineData("[192.0.2.1]", true)]
    [InlineData("user@example.org", false)]
    [InlineData("example..org", false)]
    [InlineData(".example.org", false)]
    [InlineData("exa mple.org", false)]
    [InlineData("example.org,", false)]
    [InlineData("mail.*.example.org", false)]
    [InlineData("[192.0.2.300]", false)]
    public void Domain_entries_are_domain_names(string entry, bool good) =>
        Assert.Equal(good, TableValues.DomainProblem(entry) is null);

    [Theory]
    [InlineData("bob@example.org", true)]
    [InlineData("@example.org", true)]
    [InlineData("bob@", true)]
    [InlineData("example.org", true)]
    [InlineData("<bob@example.org>", false)]
    [InlineData("bob@exa mple.org", false)]
    [InlineData("bob@example..org", false)]
    public void Mailaddr_entries_are_addresses_domains_or_users(string entry, bool good) =>
        Assert.Equal(good, TableValues.MailAddrProblem(entry) is null);

    [Theory]
    [InlineData("bob@example.org, @example.net bob", true)]
    [InlineData("bob@example..org", false)]
    [InlineData(" , ", false)]
    public void Mailaddrmap_values_are_lists_of_addresses(string value, bool good) =>
        Assert.Equal(good, TableValues.MailAddrListProblem(value) is null);

    [Theory]
    [InlineData("1000:1000:/home/alice", true)]
    [InlineData("\"1000:1000:/var/vmail/alice\"", true)]
    [InlineData("1000:1000", false)]
    [InlineData("1000:staff:/home/alice", false)]
    [InlineData("-1:1000:/home/alice", false)]
    [InlineData("1000:1000:home/alice", false)]
    public void Userinfo_values_are_uid_gid_and_an_absolute_home(string value, bool good)
    {
        Assert.Equal(good, TableValues.UserInfoProblem(value) is null);
        Assert.Equal(good, TableValues.TryParseUserInfo(value, out _, out _, out _));
    }

    [Fact]
    public void Userinfo_parses_into_its_parts()
    {
        Assert.True(TableValues.TryParseUserInfo("4242:4243:/var/vusers/alice", out uint uid, out uint gid, out string home));
        Assert.Equal((4242u, 4243u, "/var/vusers/alice"), (uid, gid, home));
    }

    [Theory]
    [InlineData("$6$saltsalt$4pB0d2Y6iJ0yLqGgQ8aWJx5Zx", true)]
    [InlineData("$2b$10$abcdefghijklmnopqrstuv", true)]
    [InlineData("bob:$6$saltsalt$4pB0d2Y6iJ0yLqGgQ8aWJx5Zx", true)]
    [InlineData("abJnggxhB/yWI", true)]  // traditional DES crypt
    [InlineData("secret", false)]        // a password in clear never matches
    [InlineData("bob:", false)]
    [InlineData(":$6$x$y", false)]
    public void Listener_credentials_are_password_hashes(string value, bool good) =>
        Assert.Equal(good, TableValues.PasswordHashProblem(value) is null);

    [Theory]
    [InlineData("bob:secret", true)]
    [InlineData("bob@example.org:pass:with:colons", true)]
    [InlineData("bob", false)]
    [InlineData(":secret", false)]
    [InlineData("bob:", false)]
    public void Relay_credentials_are_login_and_password(string value, bool good) =>
        Assert.Equal(good, TableValues.RelaySecretProblem(value) is null);

    [Theory]
    [InlineData("root", true)]
    [InlineData("bob, alice@example.org, \"|/usr/bin/vacation bob\", /var/mail/archive, :include:/etc/mail/staff", true)]
    [InlineData("error:550 no such user here", true)]
    [InlineData("error:450 try later", true)]
    [InlineData("\\bob", true)]
    [InlineData("bob+tag", true)]
    [InlineData("error:55 oops", false)]           // not three digits
    [InlineData("error:250 fine", false)]          // not 4xx or 5xx
    [InlineData("error:550", false)]               // no text
    [InlineData("|", false)]
    [InlineData(":include:staff", false)]          // not absolute
    [InlineData("bob alice", false)]               // a space: items are separated by commas
    [InlineData("bob@", false)]
    [InlineData("\"|/usr/bin/vacation bob", false)] // the quote is not closed
    [InlineData(" , ", false)]
    public void Alias_values_are_lists_of_recipients(string value, bool good) =>
        Assert.Equal(good, TableValues.AliasProblem(value) is null);

    [Theory]
    [InlineData("^mx[0-9]+\\.example\\.org$", true)]
    [InlineData("[unclosed", false)]
    public void Regex_entries_compile(string entry, bool good) =>
        Assert.Equal(good, TableValues.RegexProblem(entry) is null);

    [Fact]
    public void Contents_are_checked_for_every_use_and_name_the_file_line()
    {
        var contents = new TableContents(
            [new TableEntry("192.0.2.1", "mx1.example.org", 1), new TableEntry("mx2", "mx2.example.org", 2), new TableEntry("192.0.2.3", "bad name", 5)],
            IsList: false);
        var problems = contents.Problems("/etc/mail/helos", new HashSet<TableUse> { TableUse.AddrNames });
        Assert.Equal(2, problems.Count);
        Assert.StartsWith("/etc/mail/helos:2: bad addrname key \"mx2\": not an IP address", problems[0]);
        Assert.StartsWith("/etc/mail/helos:5: bad addrname value for \"192.0.2.3\": a space is not allowed", problems[1]);

        var list = new TableContents([new TableEntry("bob", null, 1)], IsList: true);
        Assert.Equal(["/etc/mail/aliases: alias needs \"key value\" lines, and this table is a list"],
            list.Problems("/etc/mail/aliases", new HashSet<TableUse> { TableUse.Aliases }));
        Assert.Empty(list.Problems("/etc/mail/aliases", new HashSet<TableUse>()));
    }

    [Fact]
    public void At_most_twenty_problems_are_listed_and_the_rest_counted()
    {
        var contents = new TableContents([.. Enumerable.Range(1, 25).Select(n => new TableEntry($"host{n}", null, n))], IsList: true);
        var problems = contents.Problems("/etc/mail/nets", new HashSet<TableUse> { TableUse.Networks });
        Assert.Equal(21, problems.Count);
        Assert.Equal("/etc/mail/nets: … and 5 more", problems[^1]);
    }

    [Fact]
    public void Parsed_addresses_are_the_ones_written()
    {
        Assert.True(NetworkText.TryParseNetwork("192.168/16", out var net, out int prefix));
        Assert.Equal((IPAddress.Parse("192.168.0.0"), 16), (net, prefix));
        Assert.True(NetworkText.TryParseAddress("[IPv6:2001:db8::1]", out var v6));
        Assert.Equal(IPAddress.Parse("2001:db8::1"), v6);
    }
}
