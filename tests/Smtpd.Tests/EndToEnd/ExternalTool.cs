using System.Diagnostics;

namespace Smtpd.Tests.EndToEnd;

/// <summary>Runs a real client program (python3, openssl, swaks) with input and a time bound.</summary>
public static class ExternalTool
{
    public static bool Exists(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, name)));

    public static async Task<(int Code, string Output)> RunAsync(string program, IEnumerable<string> args, string stdin = "", int timeoutSeconds = 60)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(entireProcessTree: true); throw new TimeoutException($"{program} did not finish in {timeoutSeconds} s"); }
        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>Runs a Python script given as text (python3 -c).</summary>
    public static Task<(int Code, string Output)> PythonAsync(string script, params string[] args) =>
        RunAsync("python3", ["-c", script, .. args]);
}
