using System.Diagnostics;
using System.Net.Sockets;
using Smtpd.Tests.Control;

namespace Smtpd.Tests.EndToEnd;

// Live reload (issue 20, section 5): `smtpctl reload` and SIGHUP read the configuration again,
// refuse a broken one with file:line and change nothing, and otherwise put it in force for new
// sessions while sessions under way and mail already queued keep what they were given.
public sealed class ReloadTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    internal static string Local(int generation, string extra = "") => $$"""
        {{extra}}
        listen on 127.0.0.1 port {port}
        action "local-{{generation}}" maildir "{dir}/maildirs/gen{{generation}}/%{user.username}"
        match from any for domain "example.org" action "local-{{generation}}"
        """;

    static string Maildir(SmtpdInstance smtpd, int generation) => Path.Combine(smtpd.Maildirs, $"gen{generation}", TestUsers.Recipient);

    static string Rcpt => $"{TestUsers.Recipient}@example.org";

    internal static async Task<(int Code, string Output)> ReloadAsync(SmtpdInstance smtpd, string config)
    {
        smtpd.WriteConfig(config);
        return await Smtpctl.RunAsync(smtpd, "reload");
    }

    [Fact]
    public async Task New_sessions_get_the_new_rules_while_a_session_under_way_keeps_its_own()
    {
        var smtpd = new SmtpdInstance(Local(1));
        await using var _ = smtpd;
        await smtpd.StartAsync();

        await using var open = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await open.ReadReplyAsync();
        await open.CommandAsync("EHLO client.example");
        Assert.StartsWith("250", await open.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("250", await open.CommandAsync($"RCPT TO:<{Rcpt}>"));

        var (code, output) = await ReloadAsync(smtpd, Local(2));
        Assert.True(code == 0, output);
        Assert.Contains("configuration reloaded", output);
        Assert.Contains("generation 2", output);

        // The open session finishes its transaction, and starts another, under the rules it began with.
        Assert.StartsWith("354", await open.CommandAsync("DATA"));
        Assert.StartsWith("250", await open.CommandAsync("Subject: begun before\r\n\r\nbody\r\n."));
        Assert.StartsWith("250", await open.CommandAsync("MAIL FROM:<alice@example.org>"));
        Assert.StartsWith("250", await open.CommandAsync($"RCPT TO:<{Rcpt}>"));
        Assert.StartsWith("354", await open.CommandAsync("DATA"));
        Assert.StartsWith("250", await open.CommandAsync("Subject: same session, after\r\n\r\nbody\r\n."));

        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(smtpd.Port, "alice@example.org", Rcpt, "new session", "body"));

        var old = await Mailboxes.WaitForMaildirAsync(Maildir(smtpd, 1), 2, Timeout);
        var fresh = await Mailboxes.WaitForMaildirAsync(Maildir(smtpd, 2), 1, Timeout);
        Assert.All(old, m => Assert.DoesNotContain("Subject: new session", File.ReadAllText(m)));
        Assert.Contains("Subject: new session", File.ReadAllText(fresh.Single()));
        await smtpd.WaitForLogAsync("info: configuration reloaded from", Timeout);
    }

    [Fact]
    public async Task A_filter_added_by_a_reload_applies_to_new_sessions_only()
    {
        var smtpd = new SmtpdInstance(Local(1));
        await using var _ = smtpd;
        await smtpd.StartAsync();
        await using var before = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await before.ReadReplyAsync();
        await before.CommandAsync("EHLO client.example");

        var (code, output) = await ReloadAsync(smtpd, Local(2, """
            filter "nospam" phase mail-from match mail-from regex "^spam@" reject "550 5.7.1 No spam here"
            """).Replace("port {port}", "port {port} filter \"nospam\""));
        Assert.True(code == 0, output);

        Assert.StartsWith("250", await before.CommandAsync("MAIL FROM:<spam@example.org>"));
        await using var after = await SmtpDialogue.ConnectAsync(smtpd.Port);
        await after.ReadReplyAsync();
        await after.CommandAsync("EHLO client.example");
        Assert.Equal("550 5.7.1 No spam here", await after.CommandAsync("MAIL FROM:<spam@example.org>"));
        Assert.StartsWith("250", await after.CommandAsync("MAIL FROM:<ham@example.org>"));
    }

    [Fact]
    public async Task A_broken_file_is_refused_with_file_and_line_and_the_old_rules_keep_serving()
    {
        var smtpd = new SmtpdInstance(Local(1));
        await using var _ = smtpd;
        await smtpd.StartAsync();

        // Line 3 names an action that does not exist; line 5 is not smtpd.conf at all.
        var (code, output) = await ReloadAsync(smtpd, """
            listen on 127.0.0.1 port {port}
            action "local-2" maildir "{dir}/maildirs/gen2/%{user.username}"
            match from any for domain "example.org" action "nowhere"

            this is not a statement
            """);
        Assert.Equal(1, code);
        Assert.Contains($"{smtpd.ConfigPath}:5:", output);
        Assert.Contains("configuration not reloaded", output);
        await smtpd.WaitForLogAsync($"warn: reload: {smtpd.ConfigPath}:5:", Timeout);

        // A certificate that cannot be read is refused the same way, at the line that names it.
        (code, output) = await ReloadAsync(smtpd, Local(2, """
            pki mx.example cert "{dir}/missing.crt"
            pki mx.example key "{dir}/missing.key"
            """).Replace("port {port}", "port {port} tls pki mx.example"));
        Assert.Equal(1, code);
        Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(smtpd.ConfigPath)}:\d+: .*missing\.(crt|key)", output);

        // The file gone altogether (a bad deploy): refused, naming the file.
        File.Delete(smtpd.ConfigPath);
        (code, output) = await Smtpctl.RunAsync(smtpd, "reload");
        Assert.Equal(1, code);
        Assert.Contains($"{smtpd.ConfigPath}:0: cannot open configuration file", output);

        Assert.False(smtpd.Process.HasExited);
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(smtpd.Port, "alice@example.org", Rcpt, "still gen 1", "body"));
        await Mailboxes.WaitForMaildirAsync(Maildir(smtpd, 1), 1, Timeout);
        Assert.False(Directory.Exists(Path.Combine(smtpd.Maildirs, "gen2")));
    }

    [Fact]
    public async Task Sighup_reloads_and_leaves_the_other_processes_running()
    {
        var smtpd = new SmtpdInstance(Local(1));
        await using var _ = smtpd;
        await smtpd.StartAsync();
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(smtpd.Port, "alice@example.org", Rcpt, "before", "body"));
        await Mailboxes.WaitForMaildirAsync(Maildir(smtpd, 1), 1, Timeout);

        smtpd.WriteConfig(Local(2));
        // As `pkill -HUP smtpd` would: every process of the tree, helper and delivery processes included.
        foreach (int pid in ProcessTree(smtpd.Process.Id)) Signal("HUP", pid);
        await smtpd.WaitForLogAsync("info: configuration reloaded from", Timeout);

        Assert.False(smtpd.Process.HasExited);
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(smtpd.Port, "alice@example.org", Rcpt, "after", "body"));
        await Mailboxes.WaitForMaildirAsync(Maildir(smtpd, 2), 1, Timeout);
        Assert.DoesNotContain("privileged helper exited", smtpd.Log);
    }

    [Fact]
    public async Task Added_listeners_are_bound_removed_ones_closed_and_kept_ones_keep_their_socket()
    {
        int kept = SmtpdInstance.FreePort(), removed = SmtpdInstance.FreePort(), added = SmtpdInstance.FreePort();
        string Config(params int[] ports) => string.Join("\n", ports.Select(p => $"listen on 127.0.0.1 port {p}")) + """

            action "local" maildir "{dir}/maildirs/gen1/%{user.username}"
            match from any for domain "example.org" action "local"
            """;
        var smtpd = new SmtpdInstance(Config(kept, removed));
        await using var _ = smtpd;
        await smtpd.StartAsync();

        // A client of the kept listener that has connected, but not yet been served, stays in its backlog.
        using var waiting = new TcpClient();
        await waiting.ConnectAsync("127.0.0.1", kept);

        var (code, output) = await ReloadAsync(smtpd, Config(kept, added));
        Assert.True(code == 0, output);
        Assert.Contains($"listening on 127.0.0.1:{added}", output);
        Assert.Contains($"no longer listening on 127.0.0.1:{removed}", output);

        await using (var served = SmtpDialogue.Over(waiting))
            Assert.StartsWith("220", await served.ReadReplyAsync());
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(added, "alice@example.org", Rcpt, "on the new port", "body"));
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(kept, "alice@example.org", Rcpt, "on the kept port", "body"));
        var refused = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", removed);
        });
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        await Mailboxes.WaitForMaildirAsync(Maildir(smtpd, 1), 2, Timeout);
    }

    [SkippableFact]
    public async Task As_root_a_listener_added_on_a_port_below_1024_is_bound_by_the_privileged_helper()
    {
        Skip.IfNot(TestUsers.IsRoot, "the daemon gives up root only when started as root");
        var smtpd = new SmtpdInstance(Local(1));
        await using var _ = smtpd;
        await smtpd.StartAsync();
        await smtpd.WaitForLogAsync("info: running as ", Timeout);
        int low = Privsep.PrivilegedReloadTests.FreePrivilegedPort();

        var (code, output) = await ReloadAsync(smtpd, Local(1) + $"\nlisten on 127.0.0.1 port {low}\n");
        Assert.True(code == 0, output);
        Assert.Contains($"listening on 127.0.0.1:{low}", output);
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(low, "alice@example.org", Rcpt, "on a low port", "body"));
        await Mailboxes.WaitForMaildirAsync(Maildir(smtpd, 1), 1, Timeout);
    }

    [Fact]
    public async Task Queued_mail_uses_the_new_definition_of_its_action_and_a_removed_action_still_delivers_what_it_accepted()
    {
        var smtpd = new SmtpdInstance("""
            listen on 127.0.0.1 port {port}
            action "kept" maildir "{dir}/maildirs/before/%{user.username}"
            action "dropped" maildir "{dir}/maildirs/dropped/%{user.username}"
            match from any for domain "example.org" action "kept"
            match from any for domain "example.net" action "dropped"
            """);
        await using var _ = smtpd;
        await smtpd.StartAsync();
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "pause", "mda")).Code);
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(smtpd.Port, "alice@example.org", Rcpt, "to kept", "body"));
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(smtpd.Port, "alice@example.org", $"{TestUsers.Recipient}@example.net", "to dropped", "body"));

        // "kept" now delivers elsewhere (an administrator fixing a path); "dropped" is gone.
        var (code, output) = await ReloadAsync(smtpd, """
            listen on 127.0.0.1 port {port}
            action "kept" maildir "{dir}/maildirs/after/%{user.username}"
            match from any for domain "example.org" action "kept"
            """);
        Assert.True(code == 0, output);
        Assert.Contains("actions removed: dropped", output);
        Assert.Equal(0, (await Smtpctl.RunAsync(smtpd, "resume", "mda")).Code);

        var redefined = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, "after", TestUsers.Recipient), 1, Timeout);
        Assert.Contains("Subject: to kept", File.ReadAllText(redefined.Single()));
        var removed = await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, "dropped", TestUsers.Recipient), 1, Timeout);
        Assert.Contains("Subject: to dropped", File.ReadAllText(removed.Single()));
        Assert.False(Directory.Exists(Path.Combine(smtpd.Maildirs, "before")));
        // New mail for the removed action's domain is refused: its rule is gone.
        Assert.StartsWith("550", await SmtpDialogue.TryDeliverAsync(smtpd.Port, "alice@example.org", $"{TestUsers.Recipient}@example.net", "late", "body"));
    }

    static IEnumerable<int> ProcessTree(int root)
    {
        var tree = new List<int> { root };
        for (int i = 0; i < tree.Count; i++)
        {
            string children = $"/proc/{tree[i]}/task/{tree[i]}/children";
            if (File.Exists(children))
                tree.AddRange(File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
        }
        return tree;
    }

    static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString()])!;
        kill.WaitForExit(10_000);
    }
}
