using System.Diagnostics;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Control;

/// <summary>Runs our smtpctl against a test daemon's control socket.</summary>
public static class Smtpctl
{
    public static async Task<(int Code, string Output)> RunAsync(SmtpdInstance smtpd, params string[] args) =>
        await RunWithInputAsync(smtpd, "", args);

    public static async Task<(int Code, string Output)> RunWithInputAsync(SmtpdInstance smtpd, string stdin, params string[] args)
    {
        var psi = TestBinaries.StartInfo("smtpctl", args);
        psi.RedirectStandardInput = psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.Environment["SMTPD_SOCKET"] = smtpd.ControlSocket;
        psi.Environment["SMTPD_SPOOL"] = smtpd.Spool;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"smtpctl {string.Join(' ', args)} did not finish within 60 s");
        }
        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>The queue as <c>smtpctl show queue</c> prints it, one array of fields per envelope.</summary>
    public static async Task<string[][]> QueueAsync(SmtpdInstance smtpd)
    {
        var (code, output) = await RunAsync(smtpd, "show", "queue");
        Assert.Equal(0, code);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('|')).ToArray();
    }

    /// <summary>
    /// The one line of <c>show queue</c> once its envelope is back to <c>pending</c>: the delivery
    /// log line is written before the queue records the failure, so a test that saw it waits
    /// (at most 15 s) for the record. The last listing if it never comes, for the test to assert on.
    /// </summary>
    public static async Task<string[][]> PendingQueueAsync(SmtpdInstance smtpd)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var queue = await QueueAsync(smtpd);
            if (queue is [var only] && only.Length > 11 && only[11] == "pending" || DateTime.UtcNow > deadline) return queue;
            await Task.Delay(100);
        }
    }
}
