using System.Diagnostics;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.SideBySide;

/// <summary>Our smtpd (a real process, <see cref="SmtpdInstance"/>) as one side of a scenario, with our smtpctl under each of its names.</summary>
public sealed class OurServer(string config) : ISideServer
{
    public SmtpdInstance Instance { get; } = new(config);

    public string Name => "ours";
    public string Dir => Instance.Dir;
    public int Port => Instance.Port;
    public string Spool => Instance.Spool;
    public string MailSpool => Instance.MailSpool;
    public string Maildirs => Instance.Maildirs;
    public string Log => Instance.Log;

    public Task StartAsync() => Instance.StartAsync();
    public Task StopAsync() => Instance.StopAsync();
    public Task WaitForLogAsync(string text, TimeSpan timeout, int count = 1) => Instance.WaitForLogAsync(text, timeout, count);

    /// <summary>smtpctl.dll run under <paramref name="name"/> (argv[0] decides sendmail, mailq, makemap), pointed at this instance.</summary>
    public async Task<(int Code, string Output)> CtlAsync(string name, string stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "smtpctl.dll"));
        if (name != "smtpctl") psi.ArgumentList.Add(name);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["SMTPD_SOCKET"] = Instance.ControlSocket;
        psi.Environment["SMTPD_SPOOL"] = Instance.Spool;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(entireProcessTree: true); throw new TimeoutException($"smtpctl {name} {string.Join(' ', args)} did not finish"); }
        return (p.ExitCode, await stdout + await stderr);
    }

    public ValueTask DisposeAsync() => Instance.DisposeAsync();
}
