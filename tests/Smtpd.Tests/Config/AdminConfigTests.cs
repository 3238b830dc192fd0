using System.Net;

namespace Smtpd.Tests.Config;

/// <summary><c>admin listen on ADDRESS port PORT auth &lt;TABLE&gt;</c>: the forms accepted and the errors, at their lines.</summary>
public class AdminConfigTests
{
    const string Table = "table admins file:/etc/mail/admins\npki web cert \"/etc/ssl/web.crt\"\npki web key \"/etc/ssl/web.key\"\n";
    const string Rule = "match from local for any reject\n";

    [Fact]
    public void No_statement_means_no_admin_page() => Assert.Null(ConfigAssert.Parse(Rule).Admin);

    [Theory]
    [InlineData("admin listen on 127.0.0.1 port 8025 auth <admins>", "127.0.0.1", 8025)]
    [InlineData("admin listen on ::1 port 8025 auth <admins>", "::1", 8025)]
    [InlineData("admin listen on 0.0.0.0 port 443 auth <admins>", "0.0.0.0", 443)]
    public void Accepted_forms(string line, string address, int port)
    {
        var admin = ConfigAssert.Parse(Table + line + "\n" + Rule).Admin;
        Assert.NotNull(admin);
        Assert.Equal(IPAddress.Parse(address), admin.Address);
        Assert.Equal(port, admin.Port);
        Assert.Equal("admins", admin.AuthTable);
        Assert.Null(admin.Pki);
    }

    [Fact]
    public void Tls_pki_names_a_declared_pki() =>
        Assert.Equal("web", ConfigAssert.Parse(Table + "admin listen on 127.0.0.1 port 8025 auth <admins> tls pki web\n" + Rule).Admin!.Pki);

    [Theory]
    [InlineData("admin listen on 127.0.0.1 port 8025", "'auth <table>' is required")]
    [InlineData("admin listen on 0.0.0.0 port 8025 public", "'auth <table>' is required")]
    [InlineData("admin listen on 127.0.0.1 port 8025 auth <nobody>", "undefined table <nobody>")]
    [InlineData("admin listen on 127.0.0.1 port 8025 auth admins", "expected a table <name> after 'auth'")]
    [InlineData("admin listen on 127.0.0.1 port 8025 auth <admins> bogus", "bogus")]
    [InlineData("admin listen on 127.0.0.1 port 0 auth <admins>", "invalid port '0'")]
    [InlineData("admin listen on mail.example port 8025 auth <admins>", "not an IP address")]
    [InlineData("admin on 127.0.0.1 port 8025 auth <admins>", "expected 'listen'")]
    [InlineData("admin listen on 127.0.0.1 port 8025 auth <admins> tls pki nowhere", "undefined pki 'nowhere'")]
    [InlineData("admin listen on 127.0.0.1 port 8025 auth <admins> tls", "expected 'pki'")]
    [InlineData("admin listen on 127.0.0.1 port 8025 tls pki web auth <admins>", "'auth <table>' is required")]
    public void Refused_forms_at_their_line(string line, string fragment) =>
        ConfigAssert.SingleError(Table + Rule + line + "\n", 5, fragment);

    [Fact]
    public void Given_twice_is_refused_at_the_second() =>
        ConfigAssert.SingleError(Table + "admin listen on 127.0.0.1 port 8025 auth <admins>\nadmin listen on 127.0.0.1 port 8026 auth <admins>\n" + Rule, 5, "given twice");
}
