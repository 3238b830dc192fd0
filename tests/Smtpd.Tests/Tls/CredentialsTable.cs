using System.Diagnostics;

namespace Smtpd.Tests.Tls;

/// <summary>Hashes made by our own <c>smtpctl encrypt</c>, as an admin would make them.</summary>
public static class CredentialsTable
{
    public static async Task<string> EncryptAsync(string password)
    {
        var psi = Smtpd.Tests.EndToEnd.TestBinaries.StartInfo("smtpctl", "encrypt");
        psi.RedirectStandardOutput = psi.RedirectStandardInput = psi.RedirectStandardError = true;
        using var p = Process.Start(psi)!;
        await p.StandardInput.WriteLineAsync(password); // on stdin, as an admin should
        p.StandardInput.Close();
        string hash = (await p.StandardOutput.ReadToEndAsync()).Trim();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        Assert.Equal(0, p.ExitCode);
        return hash;
    }

    /// <summary>Writes a file table <c>user  hash</c> for each pair.</summary>
    public static async Task WriteAsync(string path, params (string User, string Password)[] users)
    {
        var lines = new List<string> { "# user  hash (smtpctl encrypt)" };
        foreach (var (user, password) in users) lines.Add($"{user}\t{await EncryptAsync(password)}");
        await File.WriteAllLinesAsync(path, lines);
    }
}
