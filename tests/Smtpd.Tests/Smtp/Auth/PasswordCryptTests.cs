using Smtpd.Smtp.Auth;

namespace Smtpd.Tests.Smtp.Auth;

public sealed class PasswordCryptTests
{
    [Theory]
    [InlineData("$6$")]   // SHA-512 crypt: what smtpctl encrypt prints
    [InlineData("$2b$")]  // bcrypt, as OpenBSD's smtpctl encrypt prints
    [InlineData("$5$")]
    public void A_new_hash_verifies_its_password_only(string prefix)
    {
        string hash = PasswordCrypt.NewHash("correct horse", prefix);
        Assert.StartsWith(prefix, hash);
        Assert.True(PasswordCrypt.Verify("correct horse", hash));
        Assert.False(PasswordCrypt.Verify("correct horsE", hash));
        Assert.False(PasswordCrypt.Verify("", hash));
    }

    [Fact]
    public void Hashes_are_salted()
    {
        Assert.NotEqual(PasswordCrypt.NewHash("same"), PasswordCrypt.NewHash("same"));
    }

    [Fact]
    public void Known_sha512_hash_from_another_implementation_verifies()
    {
        // python3 -c 'import crypt; print(crypt.crypt("hello", "$6$saltsalt$"))'
        const string hash = "$6$saltsalt$YTeBOLnmm3CoeJTzBuijUEtOEWCqrw/nQ8/AeMmON4LGp3k0ZiMjC1OdqzWFUAfDQBvYkOch9BWtQTBcZ1E/p0";
        Assert.True(PasswordCrypt.Verify("hello", hash));
        Assert.False(PasswordCrypt.Verify("hellO", hash));
    }

    [Theory]
    [InlineData("")]
    [InlineData("!")]
    [InlineData("*")]
    [InlineData("!$6$saltsalt$YTeBOLnmm3CoeJTzBuijUEtOEWCqrw/nQ8/AeMmON4LGp3k0ZiMjC1OdqzWFUAfDQBvYkOch9BWtQTBcZ1E/p0")]
    [InlineData("not a hash")]
    public void Locked_empty_or_garbage_hashes_never_match(string hash)
    {
        Assert.False(PasswordCrypt.Verify("hello", hash));
        Assert.False(PasswordCrypt.Verify("", hash));
    }
}

public sealed class SaslPlainTests
{
    static string B64(string s) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(s));

    [Fact]
    public void Plain_response_gives_user_and_password()
    {
        Assert.True(SaslPlain.TryDecode(B64("\0alice\0pass word"), out var user, out var password));
        Assert.Equal(("alice", "pass word"), (user, password));
        Assert.True(SaslPlain.TryDecode(B64("alice\0alice\0pw"), out user, out _));
        Assert.Equal("alice", user);
    }

    [Theory]
    [InlineData("not base64!")]
    [InlineData("YWxpY2U=")]                 // "alice": no NULs
    [InlineData("AGFsaWNl")]                 // "\0alice": no password part
    public void Malformed_responses_are_refused(string response) =>
        Assert.False(SaslPlain.TryDecode(response, out _, out _));

    [Fact]
    public void Acting_for_someone_else_is_refused() =>
        Assert.False(SaslPlain.TryDecode(B64("root\0alice\0pw"), out _, out _));
}
