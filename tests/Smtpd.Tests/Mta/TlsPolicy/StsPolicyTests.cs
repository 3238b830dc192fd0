using Smtpd.Mta.TlsPolicy.Sts;

namespace Smtpd.Tests.Mta.TlsPolicy;

// What an MTA-STS TXT record and policy file say (RFC 8461 3.1, 3.2, 4.1), and what the cache
// in the spool gives back after a restart.
public sealed class StsPolicyTests : IDisposable
{
    readonly string _spool = Directory.CreateTempSubdirectory("sts-cache-").FullName;
    public void Dispose() => Directory.Delete(_spool, recursive: true);

    [Theory]
    [InlineData("v=STSv1; id=20160831085700Z;", "20160831085700Z")]
    [InlineData("v=STSv1;id=abc", "abc")]
    [InlineData("v=STSv1; ext=1; id=x1", "x1")]
    [InlineData("v=STSv2; id=abc", null)]
    [InlineData("id=abc; v=STSv1", null)] // v comes first
    [InlineData("v=STSv1; id=has-dash", null)]
    [InlineData("v=STSv1; id=123456789012345678901234567890123", null)] // 33 characters
    [InlineData("v=STSv1;", null)]
    public void The_txt_record_gives_the_policy_id(string text, string? id) =>
        Assert.Equal(id, StsTxtRecord.Parse(text)?.Id);

    [Fact]
    public void Two_sts_records_mean_none()
    {
        Assert.Null(StsTxtRecord.Find(["v=STSv1; id=1", "v=STSv1; id=2"]));
        Assert.Equal("1", StsTxtRecord.Find(["v=spf1 -all", "v=STSv1; id=1"])?.Id);
    }

    [Fact]
    public void A_policy_file_and_its_mx_patterns()
    {
        var policy = StsPolicy.Parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\nfuture: x\r\n", out var problem);
        Assert.Null(problem);
        Assert.Equal("enforce", policy!.Mode);
        Assert.Equal(TimeSpan.FromDays(7), policy.MaxAge);
        Assert.True(policy.Allows("mail.example.com"));
        Assert.True(policy.Allows("MAIL.example.com."));
        Assert.True(policy.Allows("mx1.example.net"));
        Assert.False(policy.Allows("example.net")); // "*." stands for one label
        Assert.False(policy.Allows("a.b.example.net"));
        Assert.False(policy.Allows("mail.example.org"));
    }

    [Theory]
    [InlineData("mode: enforce\nmx: a.example\nmax_age: 1\n", "no \"version: STSv1\"")]
    [InlineData("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "bad mode \"strict\"")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example\n", "no valid max_age")]
    [InlineData("version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx line")]
    public void A_bad_policy_says_why(string text, string why)
    {
        Assert.Null(StsPolicy.Parse(text, out var problem));
        Assert.Equal(why, problem);
    }

    [Fact]
    public void Max_age_is_capped_at_a_year() =>
        Assert.Equal(StsPolicy.LongestMaxAge, StsPolicy.Parse("version: STSv1\nmode: none\nmax_age: 99999999999\n", out _)!.MaxAge);

    [Fact]
    public void The_cache_in_the_spool_outlives_the_process_until_max_age()
    {
        string text = "version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 3600\n";
        var fetched = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        new StsCache(_spool).Put("Example.NET", new StsCache.Entry("id1", fetched, text, StsPolicy.Parse(text, out _)!));

        var again = new StsCache(_spool).Get("example.net"); // another process reading the spool
        Assert.NotNull(again);
        Assert.Equal("id1", again.Id);
        Assert.Equal(fetched, again.Fetched);
        Assert.True(again.FreshAt(fetched.AddMinutes(59)));
        Assert.False(again.FreshAt(fetched.AddMinutes(61)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_spool, "mta-sts", "example.net")));
    }
}
