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
    public Task<(int Code, string Output)> CtlAsync(string name, string stdin, params string[] args) =>
        Control.Smtpctl.RunWithInputAsync(Instance, stdin, name == "smtpctl" ? args : [name, .. args]);

    public ValueTask DisposeAsync() => Instance.DisposeAsync();
}
