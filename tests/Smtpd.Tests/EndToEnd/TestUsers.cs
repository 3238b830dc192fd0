namespace Smtpd.Tests.EndToEnd;

/// <summary>
/// Who the tests send local mail to. Run as root (CI), smtpd never delivers as root, so local
/// mail goes to the ordinary user <c>smtpdtest</c> that .ci/run creates; run as anyone else, to
/// ourself (the only user an unprivileged smtpd can deliver to).
/// </summary>
public static class TestUsers
{
    public const string Ordinary = "smtpdtest";

    public static bool IsRoot => Environment.UserName == "root";

    /// <summary>The local user tests deliver to.</summary>
    public static string Recipient => IsRoot ? Ordinary : Environment.UserName;

    public static uint Uid(string user) =>
        uint.Parse(File.ReadLines("/etc/passwd").Select(l => l.Split(':')).First(f => f[0] == user)[2]);
}
