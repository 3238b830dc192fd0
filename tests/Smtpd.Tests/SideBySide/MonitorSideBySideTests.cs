using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Smtpd.Tests.EndToEnd;
using Xunit.Abstractions;

namespace Smtpd.Tests.SideBySide;

// smtpctl monitor ──control socket──▶ ours / OpenSMTPD 6.8 ◀──SMTP── one message for a local maildir
// What each server's monitor prints: its header, the form of its lines, the first line (totals
// since start) and how the counters move over the delivery of one message.
public sealed partial class MonitorSideBySideTests(ITestOutputHelper output) : IAsyncLifetime
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    ServerPair? _pair;

    public async Task InitializeAsync()
    {
        if (OpenSmtpdInstance.Unavailable is not null) return;
        _pair = await ServerPair.StartAsync("""
            listen on 127.0.0.1 port {port}
            action "local" maildir "{dir}/maildirs/%{user.username}"
            match from local for local action "local"
            """);
    }

    public async Task DisposeAsync()
    {
        if (_pair is not null) await _pair.DisposeAsync();
    }

    // smtpctl.c do_monitor's printf: 13 right-aligned numbers in fixed columns.
    [GeneratedRegex(@"^[ \d]{4} [ \d]{4} [ \d]{4}  [ \d]{4} [ \d]{4} [ \d]{4} [ \d]{4}    [ \d]{4}    [ \d]{4} [ \d]{4}   [ \d]{4}   [ \d]{4}   [ \d]{4}$")]
    private static partial Regex Row();

    [GeneratedRegex(@"\x1b(\[\??[0-9;]*[A-Za-z]|[=>])")]
    private static partial Regex TerminalModes();

    /// <summary>
    /// The server's smtpctl monitor under a pseudo-terminal (theirs writes through stdio, which a
    /// pipe would hold back), until the first counters line, then one message, then until the
    /// delivery shows and two more lines came. Returns every line it printed.
    /// </summary>
    async Task<List<string>> MonitorAsync(ISideServer s)
    {
        string command = s switch
        {
            OpenSmtpdInstance theirs => $"nsenter -t {theirs.Pid} -m {OpenSmtpdInstance.Smtpctl} monitor",
            OurServer ours => $"SMTPD_SOCKET='{ours.Instance.ControlSocket}' SMTPD_SPOOL='{ours.Spool}' {string.Join(' ', EndToEnd.TestBinaries.Command("smtpctl").Select(w => $"'{w}'"))} monitor",
            _ => throw new ArgumentException(s.Name),
        };
        var psi = new ProcessStartInfo("script", ["-qfec", command, "/dev/null"])
        { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var lines = new List<string>();
        using var monitor = Process.Start(psi)!;
        // The .NET runtime switches a terminal's keypad mode (ESC [?1h ESC =) on start: invisible, not compared.
        monitor.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(TerminalModes().Replace(e.Data, "").TrimEnd('\r')); };
        monitor.BeginOutputReadLine();
        monitor.BeginErrorReadLine();
        List<string> Rows() { lock (lines) return lines.Where(l => Row().IsMatch(l)).ToList(); }
        try
        {
            await WaitAsync(() => Rows().Count >= 1, $"{s.Name}: a first monitor line");
            string reply = await Session.SendAsync(s, "alice@example.org", [$"{TestUsers.Recipient}@localhost"], "Subject: monitored\n\nbody\n");
            Assert.StartsWith("250", reply);
            await WaitAsync(() => Rows().Sum(r => Column(r, 6)) >= 1, $"{s.Name}: the delivery in monitor's ok column");
            int seen = Rows().Count;
            await WaitAsync(() => Rows().Count >= seen + 2, $"{s.Name}: two more monitor lines");
        }
        finally
        {
            if (!monitor.HasExited) monitor.Kill(entireProcessTree: true);
            await monitor.WaitForExitAsync();
        }
        lock (lines) return [.. lines];
    }

    static long Column(string row, int i) => long.Parse(row.Split(' ', StringSplitOptions.RemoveEmptyEntries)[i], CultureInfo.InvariantCulture);

    static async Task WaitAsync(Func<bool> done, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!done())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what}: not within {Timeout}");
            await Task.Delay(100);
        }
    }

    static readonly string[] Columns = ["curr conn", "conn", "disc", "curr envelopes", "enq", "deq", "ok", "tmpfail", "prmfail", "loop", "expire", "remove", "bounce"];

    [SkippableFact]
    public async Task Monitor_header_lines_and_counters_over_one_delivery()
    {
        Skip.If(_pair is null, OpenSmtpdInstance.Unavailable);
        var results = new Dictionary<string, List<string>>();
        foreach (var s in _pair!.Both) results[s.Name] = await MonitorAsync(s);
        var c = new Comparison(output, "smtpctl monitor");
        var (ours, theirs) = (results["ours"], results["theirs"]);
        output.WriteLine("ours:\n" + string.Join("\n", ours) + "\ntheirs:\n" + string.Join("\n", theirs));

        c.Same("monitor: header", string.Join("\n", ours.Take(2)), string.Join("\n", theirs.Take(2)));
        c.Same("monitor: third line is a counters line", Row().IsMatch(ours.ElementAtOrDefault(2) ?? ""), Row().IsMatch(theirs.ElementAtOrDefault(2) ?? ""));
        c.Same("monitor: every line after the header is a counters line", ours.Skip(2).All(l => Row().IsMatch(l)), theirs.Skip(2).All(l => Row().IsMatch(l)));
        // Nothing happened before the monitor started: the first line's totals since start are all zero on both.
        c.Same("monitor: first line (totals since start)", ours.ElementAtOrDefault(2), theirs.ElementAtOrDefault(2));
        var (ourRows, theirRows) = (ours.Where(l => Row().IsMatch(l)).ToList(), theirs.Where(l => Row().IsMatch(l)).ToList());
        for (int i = 0; i < Columns.Length; i++)
        {
            // "curr" columns are gauges: the last line's; the others count events: their sum.
            bool gauge = i is 0 or 3;
            long Value(List<string> rows) => gauge ? Column(rows[^1], i) : rows.Sum(r => Column(r, i));
            c.Same($"monitor: {Columns[i]} {(gauge ? "at the end" : "over the delivery")}", Value(ourRows).ToString(CultureInfo.InvariantCulture), Value(theirRows).ToString(CultureInfo.InvariantCulture));
        }
        c.AssertAll();
    }
}
