using System.Text;
using Smtpd.Admin;
using Smtpd.Metrics;

namespace Smtpd.Tests.WebAdmin;

// What the admin listener reads of a request: the Basic credentials, the query, the CSRF header.
public sealed class AdminRequestTests
{
    static string Basic(string s) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    [Fact]
    public void Basic_credentials_are_read_and_the_password_may_hold_colons_and_non_ascii()
    {
        Assert.Equal(("admin", "s3:cr:et"), BasicCredentials.Parse(Basic("admin:s3:cr:et")));
        Assert.Equal(("jürgen", "pässwort"), BasicCredentials.Parse(Basic("jürgen:pässwort")));
        Assert.Equal(("admin", ""), BasicCredentials.Parse(Basic("admin:")));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer abc")]
    [InlineData("Basic !!!not-base64")]
    [InlineData("Basic YWRtaW4=")] // "admin": no colon
    [InlineData("Basic OnNlY3JldA==")] // ":secret": no user
    public void Anything_else_is_no_credentials(string? header) => Assert.Null(BasicCredentials.Parse(header));

    [Theory]
    [InlineData("q=other.example", "other.example")]
    [InlineData("x=1&q=alice%40example.org", "alice@example.org")]
    [InlineData("q=two+words", "two words")]
    [InlineData("q=", "")]
    [InlineData("x=1", null)]
    [InlineData(null, null)]
    public void The_search_is_read_from_the_query(string? query, string? search) => Assert.Equal(search, AdminQuery.Get(query, "q"));

    [Fact]
    public void The_head_gives_the_query_the_authorization_and_the_csrf_header()
    {
        var head = HttpRequestHead.Parse("POST /api/envelope/0123456789abcdef/remove?x=1 HTTP/1.1\r\nHost: h\r\nauthorization: Basic YTpi\r\nX-Smtpd-Admin: 1");
        Assert.NotNull(head);
        Assert.Equal(("POST", "/api/envelope/0123456789abcdef/remove", "x=1"), (head.Method, head.Path, head.Query));
        Assert.Equal("Basic YTpi", head.Authorization);
        Assert.Equal("1", head.AdminHeader);
        var plain = HttpRequestHead.Parse("GET / HTTP/1.1\r\nHost: h");
        Assert.Null(plain!.AdminHeader);
        Assert.Null(plain.Query);
    }
}
