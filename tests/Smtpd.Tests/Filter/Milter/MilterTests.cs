using System.Buffers.Binary;
using System.Text;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter.Milter;

// Path of the mail: SmtpDialogue → smtpd on 127.0.0.1:{port} (listener "filter m") ⇄ ScriptedMilter
// on a loopback port (the milter protocol, version 6; every packet recorded) → fs queue →
// maildir {dir}/maildirs/USER. The tests assert what smtpd sends the milter, packet by packet,
// and what the client and the mailbox see of the milter's answers.
public sealed class MilterTests
{
    internal static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    internal static readonly string Me = TestUsers.Recipient;

    internal static SmtpdInstance Start(ScriptedMilter milter, string options = "", string chain = "")
    {
        var smtpd = new SmtpdInstance($"""
            filter "m" milter "{milter.Address}" {options}
            {chain}
            listen on 127.0.0.1 port {"{port}"} hostname mx.test filter "{(chain.Length > 0 ? "all" : "m")}"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from local for local action "local"
            """);
        return smtpd;
    }

    internal static async Task<SmtpDialogue> ConnectAsync(SmtpdInstance smtpd)
    {
        var c = await SmtpDialogue.ConnectAsync(smtpd.Port);
        Assert.StartsWith("220", await c.ReadReplyAsync());
        Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
        return c;
    }

    internal const string Message = "Subject: milter test\r\nX-Folded: first\r\n\tsecond\r\nX-Remove: me\r\n\r\nbody line 1\r\n..dotted line\r\nbody line 3";

    internal static async Task<string> SendAsync(SmtpDialogue c, string rcpt, string message = Message, string from = "alice@example.org")
    {
        Assert.StartsWith("250", await c.CommandAsync($"MAIL FROM:<{from}> SIZE=100"));
        Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{rcpt}>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"));
        return await c.CommandAsync(message + "\r\n.");
    }

    internal static string[] Delivered(SmtpdInstance smtpd) =>
        Directory.Exists(Path.Combine(smtpd.Maildirs, Me, "new"))
            ? Directory.GetFiles(Path.Combine(smtpd.Maildirs, Me, "new")).Select(File.ReadAllText).ToArray()
            : [];

    [Fact]
    public async Task EveryStageGoesToTheMilterWithItsMacrosAsPostfixSendsThem()
    {
        await using var milter = new ScriptedMilter();
        await using var smtpd = Start(milter);
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost"));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        string stored = File.ReadAllText(Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait)));
        // Given on as it came: the header, the empty line, the body.
        Assert.Contains("X-Folded: first\n\tsecond\nX-Remove: me\n", stored);
        Assert.EndsWith("\n\nbody line 1\n.dotted line\nbody line 3\n", stored);
        var frames = await milter.WaitForAsync(0, 'Q', Wait);

        // The order of a session as Postfix 3.7 sends it (RecordedPostfixTests compares with a recording):
        // negotiation, each stage preceded by its macros (helo's empty: no TLS here), each header
        // and body chunk too, then an abort after the end of message and one before quit.
        string codes = string.Concat(frames.Select(f => f.Code));
        Assert.Matches("^ODCDHDMDRDT(DL)+DNDBDEAAQ$", codes);

        // OPTNEG: version 6, every action, the steps we can skip or not wait for.
        var optneg = frames[0].Data;
        Assert.Equal(6u, BinaryPrimitives.ReadUInt32BigEndian(optneg));
        Assert.Equal(0x1ffu, BinaryPrimitives.ReadUInt32BigEndian(optneg.AsSpan(4)));
        uint steps = BinaryPrimitives.ReadUInt32BigEndian(optneg.AsSpan(8));
        Assert.Equal(0x1ff7ffu & ~0x800u, steps); // all of NO*, NR_*, SKIP and HDR_LEADSPC; not RCPT_REJ

        // Each macro packet names the command it precedes.
        var macros = frames.Where(f => f.Code == 'D').ToList();
        Assert.Equal(string.Concat(frames.Zip(frames.Skip(1)).Where(p => p.First.Code == 'D').Select(p => p.Second.Code)),
            string.Concat(macros.Select(m => (char)m.Data[0])));
        Dictionary<string, string> Before(char command) => macros.First(m => m.Data[0] == command).Macros();
        Assert.Empty(Before('H')); // TLS's macros, and this session has no TLS
        var connect = Before('C');
        Assert.Equal("mx.test", connect["j"]);
        Assert.Equal("127.0.0.1", connect["{client_addr}"]);
        Assert.Equal("127.0.0.1", connect["{if_addr}"]);
        Assert.Equal("mx.test", connect["{daemon_name}"]);
        Assert.EndsWith("[127.0.0.1]", connect["_"]);
        Assert.Equal("alice@example.org", Before('M')["{mail_addr}"]);
        var rcpt = Before('R');
        Assert.Equal($"{Me}@localhost", rcpt["{rcpt_addr}"]);
        Assert.Matches("^[0-9a-f]{8}$", rcpt["i"]); // the queue id, known from MAIL on
        Assert.Equal(rcpt["i"], Before('E')["i"]);
        Assert.Equal(rcpt["i"], Before('L')["i"]);

        // SMFIC_CONNECT: name, family '4', port, address.
        var c0 = frames.First(f => f.Code == 'C').Data;
        int nul = Array.IndexOf(c0, (byte)0);
        Assert.Equal((byte)'4', c0[nul + 1]);
        Assert.NotEqual(0, BinaryPrimitives.ReadUInt16BigEndian(c0.AsSpan(nul + 2)));
        Assert.Equal("127.0.0.1\0", Encoding.ASCII.GetString(c0, nul + 4, c0.Length - nul - 4));

        Assert.Equal(["client.example"], frames.First(f => f.Code == 'H').Strings());
        Assert.Equal(["<alice@example.org>", "SIZE=100"], frames.First(f => f.Code == 'M').Strings());
        Assert.Equal([$"<{Me}@localhost>"], frames.First(f => f.Code == 'R').Strings());

        // Headers: the client's, not our own Received (Postfix does not show its first header either);
        // the value after the colon without its one leading space (the milter did not ask for
        // SMFIP_HDR_LEADSPC), folded lines joined by LF, as Sendmail sends them.
        var headers = frames.Where(f => f.Code == 'L').Select(f => f.Strings()).ToList();
        Assert.DoesNotContain(headers, h => h[0] == "Received");
        Assert.Equal(["Subject", "milter test"], headers[^3]);
        Assert.Equal(["X-Folded", "first\n\tsecond"], headers[^2]);
        // The body as it is stored: CRLF lines, unstuffed.
        Assert.Equal("body line 1\r\n.dotted line\r\nbody line 3\r\n", Encoding.ASCII.GetString(frames.Single(f => f.Code == 'B').Data));
    }

    [Fact]
    public async Task SkippedAndUnansweredStagesAndTheMilterSymbolListsAreHonoured()
    {
        await using var milter = new ScriptedMilter
        {
            // NOHELO, NOHDRS; NR_CONN, NR_MAIL, NR_RCPT, NR_DATA, NR_EOH, NR_BODY.
            Steps = 0x2 | 0x20 | 0x1000 | 0x4000 | 0x8000 | 0x10000 | 0x40000 | 0x80000 | 0x100000,
            SymbolLists = { (2, "{mail_addr} {client_addr}"), (0, "j") },
        };
        await using var smtpd = Start(milter);
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost"));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        var frames = await milter.WaitForAsync(0, 'Q', Wait);
        Assert.Matches("^ODCDMDRDTDNDBDEAAQ$", string.Concat(frames.Select(f => f.Code)));
        var macros = frames.Where(f => f.Code == 'D').ToList();
        Assert.Equal(["j"], macros[0].Macros().Keys);
        Assert.Equal(["{mail_addr}", "{client_addr}"], macros[1].Macros().Keys);
        // With SMFIP_HDR_LEADSPC nothing was stripped, so a header would keep its space; none were sent (NOHDRS).
        Assert.DoesNotContain(frames, f => f.Code == 'L');
        Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait));
    }

    [Fact]
    public async Task RepliesReachTheClientAtTheirStage()
    {
        int messages = 0;
        await using var milter = new ScriptedMilter
        {
            Script = (_, f) => f.Code switch
            {
                'M' when f.Strings()[0] == "<multi@example.org>" =>
                    MilterAct.Reply(MilterFrame.Of('y', "550-5.7.1 first line\r\n550 5.7.1 second line")),
                'M' when f.Strings()[0] == "<later@example.org>" => MilterAct.Reply(new MilterFrame('t', [])),
                'R' when f.Strings()[0] == "<refused@localhost>" => MilterAct.Reply(new MilterFrame('r', [])),
                'E' when Interlocked.Increment(ref messages) == 1 =>
                    MilterAct.Reply(new MilterFrame('p', []), MilterFrame.Of('y', "554 5.7.1 Spam message rejected")),
                _ => null,
            },
        };
        await using var smtpd = Start(milter);
        await smtpd.StartAsync();
        await using var c = await ConnectAsync(smtpd);
        Assert.Equal("550-5.7.1 first line\n550 5.7.1 second line", await c.CommandAsync("MAIL FROM:<multi@example.org>"));
        Assert.StartsWith("451 4.7.1", await c.CommandAsync("MAIL FROM:<later@example.org>"));
        Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
        // A refused recipient is refused alone.
        Assert.StartsWith("550 5.7.1", await c.CommandAsync("RCPT TO:<refused@localhost>"));
        Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{Me}@localhost>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"));
        // SMFIR_PROGRESS then the end-of-message answer: the client gets it after its dot, nothing is queued.
        Assert.Equal("554 5.7.1 Spam message rejected", await c.CommandAsync(Message + "\r\n."));
        Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost", from: "bob@example.org"));
        Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        // The first MAIL refused by the milter is aborted before the next one.
        var frames = await milter.WaitForAsync(0, 'Q', Wait);
        Assert.Equal('A', frames.SkipWhile(f => f.Code != 'M').Skip(1).First(f => f.Code is 'A' or 'D' or 'M').Code);
        var mail = File.ReadAllText(Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait)));
        Assert.Contains("bob@example.org", mail);
    }

    [Fact]
    public async Task AcceptEndsTheMilterPartAndDiscardDropsTheMessage()
    {
        await using var milter = new ScriptedMilter
        {
            Script = (_, f) => f.Code switch
            {
                'M' when f.Strings()[0] == "<accepted@example.org>" => MilterAct.Reply(new MilterFrame('a', [])),
                'R' when f.Strings()[0] == $"<{Me}+discard@localhost>" => MilterAct.Reply(new MilterFrame('d', [])),
                _ => null,
            },
        };
        await using var smtpd = Start(milter);
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost", from: "accepted@example.org"));
            // Discarded: the client is told it was accepted.
            Assert.StartsWith("250", await SendAsync(c, $"{Me}+discard@localhost", from: "discarded@example.org"));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        var frames = await milter.WaitForAsync(0, 'Q', Wait);
        // After accept at MAIL, nothing more of that message went to the milter (an abort closes it before
        // the next MAIL); after discard at RCPT nothing more of that one (the dropped transaction aborts it).
        string codes = string.Concat(frames.Select(f => f.Code));
        Assert.Matches("^ODCDHDMADMDRAAQ$", codes);
        var mail = File.ReadAllText(Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait)));
        Assert.Contains("accepted@example.org", mail);
        await Task.Delay(500);
        Assert.Single(Delivered(smtpd));
        Assert.Contains("discarded by a milter", smtpd.Log);
    }

    [Fact]
    public async Task ModificationsApplyToTheQueuedMessageOnceAndBeforeOurDkimSignature()
    {
        await using var milter = new ScriptedMilter
        {
            Script = (_, f) => f.Code == 'E'
                ? MilterAct.Reply(
                    MilterFrame.Of('h', "X-Added", "by the milter"),
                    MilterFrame.Indexed('i', 0, "X-First", "inserted at the top"),
                    MilterFrame.Indexed('m', 1, "Subject", "changed subject"),
                    MilterFrame.Indexed('m', 1, "X-Remove", ""),
                    MilterFrame.Of('h', "X-Multi", "line one\n\tline two"),
                    new MilterFrame('b', Encoding.ASCII.GetBytes("replaced body\r\n.starts with a dot\r\n")),
                    MilterFrame.Of('e', "<changed@example.net>"),
                    MilterFrame.Of('-', $"<{Me}@localhost>"),
                    MilterFrame.Of('+', $"<{Me}+added@localhost>"),
                    new MilterFrame('c', []))
                : null,
        };
        string key = Path.Combine(Path.GetTempPath(), $"milter-dkim-{Guid.NewGuid():N}.pem");
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        File.WriteAllText(key, rsa.ExportPkcs8PrivateKeyPem());
        try
        {
            await using var smtpd = Start(milter, chain: $"""
                filter "sign" dkim-sign domain example.org selector sel key "{key}"
                filter "all" chain {"{"} "m", "sign" {"}"}
                """);
            await smtpd.StartAsync();
            await using (var c = await ConnectAsync(smtpd))
            {
                Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost", "From: alice@example.org\r\n" + Message));
                Assert.StartsWith("221", await c.CommandAsync("QUIT"));
            }
            string mail = File.ReadAllText(Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait)));
            var lines = mail.Split('\n');
            // Our signature first (it signs what the milter gave on), then the milter's inserted field at the top of the rest.
            int sig = Array.FindIndex(lines, l => l.StartsWith("DKIM-Signature:", StringComparison.Ordinal));
            int first = Array.FindIndex(lines, l => l.StartsWith("X-First:", StringComparison.Ordinal));
            Assert.True(sig >= 0 && first > sig, mail);
            Assert.Equal("X-First: inserted at the top", lines[first]);
            Assert.True(first < Array.FindIndex(lines, l => l.StartsWith("Received:", StringComparison.Ordinal)), mail);
            Assert.Contains("\nSubject: changed subject\n", mail);
            Assert.DoesNotContain("milter test", mail);
            Assert.DoesNotContain("X-Remove", mail);
            Assert.Contains("\nX-Added: by the milter\n", mail);
            Assert.Contains("\nX-Multi: line one\n\tline two\n", mail);
            Assert.Equal(1, SmtpdInstance.Occurrences(mail, "X-Added"));
            Assert.EndsWith("\n\nreplaced body\n.starts with a dot\n", mail);
            Assert.DoesNotContain("body line", mail);
            // The envelope: the new sender, the deleted recipient gone, the added one there.
            Assert.Contains("Return-Path: <changed@example.net>", mail);
            Assert.Contains($"{Me}+added@localhost", mail);
            Assert.Matches($"smtp envelope evpid=[0-9a-f]+ from=<changed@example.net> to=<{Me}\\+added@localhost>", smtpd.Log);
            Assert.DoesNotMatch($"to=<{Me}@localhost>", smtpd.Log);

            // The signature covers the message as stored.
            var parsed = MimeKit.MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(mail.Replace("\n", "\r\n"))));
            var verifier = new MimeKit.Cryptography.DkimVerifier(new DkimKey($"v=DKIM1; k=rsa; p={Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo())}"));
            Assert.True(await verifier.VerifyAsync(parsed, parsed.Headers[parsed.Headers.IndexOf(MimeKit.HeaderId.DkimSignature)]));
        }
        finally { File.Delete(key); }
    }

    [Fact]
    public async Task TheEsmtpArgumentsOfAChangedSenderAndAnAddedRecipientReachTheEnvelopes()
    {
        // SMFIR_CHGFROM with RET and ENVID, SMFIR_ADDRCPT_PAR with NOTIFY and ORCPT: kept in the
        // queued envelopes as MAIL FROM's and RCPT TO's would be; an unknown one is logged and
        // left out. The milter also quarantines, so that the envelopes wait to be looked at.
        await using var milter = new ScriptedMilter
        {
            Script = (_, f) => f.Code == 'E'
                ? MilterAct.Reply(
                    MilterFrame.Of('e', "<changed@example.net>", "RET=HDRS ENVID=milter+2Benvid", "FOO=bar", "RET=SOMETIMES"),
                    MilterFrame.Of('2', $"<{Me}+dsn@localhost>", "NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;orig@example.org"),
                    MilterFrame.Of('q', "look at the envelopes"),
                    new MilterFrame('c', []))
                : null,
        };
        await using var smtpd = Start(milter);
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org> RET=FULL"));
            Assert.StartsWith("250", await c.CommandAsync($"RCPT TO:<{Me}@localhost>"));
            Assert.StartsWith("354", await c.CommandAsync("DATA"));
            Assert.StartsWith("250", await c.CommandAsync(Message + "\r\n."));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        Assert.Contains("smtp milter: ignored an ESMTP parameter of a change of sender: FOO=bar", smtpd.Log);
        // A known parameter with a value it cannot have is left out too: the valid RET stands.
        Assert.Contains("smtp milter: ignored an ESMTP parameter of a change of sender: RET=SOMETIMES", smtpd.Log);
        var queue = await Control.Smtpctl.QueueAsync(smtpd);
        Assert.Equal(2, queue.Length);
        var envelopes = new Dictionary<string, string>();
        foreach (var line in queue)
        {
            var (code, text) = await Control.Smtpctl.RunAsync(smtpd, "show", "envelope", line[0]);
            Assert.Equal(0, code);
            envelopes[line[5]] = text;
        }
        string original = envelopes[$"{Me}@localhost"], added = envelopes[$"{Me}+dsn@localhost"];
        foreach (var envelope in new[] { original, added })
        {
            Assert.Contains("sender: changed@example.net", envelope);
            Assert.Contains("dsn-ret: HDRS", envelope);
            Assert.Contains("dsn-envid: milter+2Benvid", envelope);
        }
        Assert.Contains("dsn-notify: 5", added); // SUCCESS (1) | DELAY (4)
        Assert.Contains("dsn-orcpt: rfc822;orig@example.org", added);
        Assert.DoesNotContain("dsn-orcpt", original);
    }

    [Fact]
    public async Task AQuarantinedMessageIsHeldInTheQueueUntilResumed()
    {
        await using var milter = new ScriptedMilter
        {
            Script = (_, f) => f.Code == 'E' ? MilterAct.Reply(MilterFrame.Of('q', "looks odd"), new MilterFrame('a', [])) : null,
        };
        await using var smtpd = Start(milter);
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost"));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        // The log line may come after the client's reply: wait for it.
        await smtpd.WaitForLogAsync("quarantined by a milter", Wait);
        string msgid = System.Text.RegularExpressions.Regex.Match(smtpd.Log, "msgid=([0-9a-f]{8}) quarantined by a milter").Groups[1].Value;
        Assert.Contains("reason=\"looks odd\"", smtpd.Log);
        // Held: the scheduler's pause (suspend), as smtpctl pause envelope sets it.
        var (code, queue) = await Control.Smtpctl.RunAsync(smtpd, "show", "queue");
        Assert.Equal(0, code);
        var line = Assert.Single(queue.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(msgid, line);
        Assert.Contains("suspend", line);
        await Task.Delay(1000);
        Assert.Empty(Delivered(smtpd));

        var (resumed, text) = await Control.Smtpctl.RunAsync(smtpd, "resume", "envelope", msgid);
        Assert.Equal((0, "1 envelope resumed"), (resumed, text.Trim()));
        Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait));
    }

    [Fact]
    public async Task ALargeBodyGoesInChunksUntilTheMilterSaysSkip()
    {
        // 300 lines of 1000 bytes: about 300 KB, more than four chunks.
        string line = new('x', 998);
        string body = string.Join("\r\n", Enumerable.Range(0, 300).Select(i => $"{i:D3}{line}"[..998]));
        await using var milter = new ScriptedMilter
        {
            // SMFIR_SKIP after the first chunk of the second message: it has seen enough, it still wants end of message.
            Script = (_, f) => f.Code == 'B' && Encoding.ASCII.GetString(f.Data).Contains("skip-me") && f.Data.Length == 65535
                ? MilterAct.Reply(new MilterFrame('s', [])) : null,
        };
        await using var smtpd = Start(milter);
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost", "Subject: big\r\n\r\n" + body));
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost", "Subject: skip-me\r\n\r\nskip-me\r\n" + body));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        var frames = await milter.WaitForAsync(0, 'Q', Wait);
        var first = frames.TakeWhile(f => f.Code != 'E').Where(f => f.Code == 'B').ToList();
        Assert.All(first, b => Assert.True(b.Data.Length <= 65535));
        Assert.True(first.Count >= 5);
        // The chunks are the body, whole and in order.
        Assert.Equal(body + "\r\n", string.Concat(first.Select(b => Encoding.ASCII.GetString(b.Data))));
        // After SMFIR_SKIP no more body, but the end of message still went.
        var second = frames.SkipWhile(f => f.Code != 'E').Skip(1).ToList();
        Assert.Equal(1, second.Count(f => f.Code == 'B'));
        Assert.Contains(second, f => f.Code == 'E');
        var mails = (await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 2, Wait)).Select(File.ReadAllText).ToList();
        Assert.All(mails, m => Assert.EndsWith(body.Replace("\r\n", "\n") + "\n", m));
    }

    [Fact]
    public async Task MiltersOfAChainGoInOrderEachSeeingThePreviousOnesChanges()
    {
        await using var first = new ScriptedMilter
        {
            Script = (_, f) => f.Code == 'E' ? MilterAct.Reply(MilterFrame.Of('h', "X-First", "was here"), new MilterFrame('c', [])) : null,
        };
        await using var second = new ScriptedMilter();
        await using var smtpd = new SmtpdInstance($"""
            filter "one" milter "{first.Address}"
            filter "two" milter "{second.Address}"
            filter "both" chain {"{"} "one", "two" {"}"}
            listen on 127.0.0.1 port {"{port}"} hostname mx.test filter "both"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from local for local action "local"
            """);
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost"));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        var seen = await second.WaitForAsync(0, 'Q', Wait);
        Assert.Contains(seen, f => f.Code == 'L' && f.Strings()[0] == "X-First" && f.Strings()[1] == "was here");
        Assert.DoesNotContain(await first.WaitForAsync(0, 'Q', Wait), f => f.Code == 'L' && f.Strings()[0] == "X-First");
        string mail = File.ReadAllText(Assert.Single(await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 1, Wait)));
        Assert.Equal(1, SmtpdInstance.Occurrences(mail, "X-First: was here"));
    }

    [Fact]
    public async Task AReloadMovesNewSessionsToTheNewMilterAndLeavesOpenOnesOnTheirs()
    {
        await using var old = new ScriptedMilter();
        await using var replacement = new ScriptedMilter();
        await using var smtpd = Start(old);
        await smtpd.StartAsync();
        await using var before = await ConnectAsync(smtpd);

        smtpd.WriteConfig($"""
            filter "m" milter "{replacement.Address}" on-failure accept
            listen on 127.0.0.1 port {"{port}"} hostname mx.test filter "m"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from local for local action "local"
            """);
        var (code, output) = await Control.Smtpctl.RunAsync(smtpd, "reload");
        Assert.True(code == 0, output);

        Assert.StartsWith("250", await SendAsync(before, $"{Me}@localhost"));
        await using (var after = await ConnectAsync(smtpd))
            Assert.StartsWith("250", await SendAsync(after, $"{Me}@localhost"));
        await Mailboxes.WaitForMaildirAsync(Path.Combine(smtpd.Maildirs, Me), 2, Wait);
        Assert.Contains(await old.WaitForAsync(0, 'E', Wait), f => f.Code == 'M');
        Assert.Equal(1, old.Connections);
        await replacement.WaitForAsync(0, 'E', Wait);
        Assert.Equal(1, replacement.Connections);
    }

    [Fact]
    public async Task TlsAndAuthenticationReachTheMilterAsMacros()
    {
        await using var milter = new ScriptedMilter();
        await using var smtpd = new SmtpdInstance();
        Tls.TestCertificates.Write(smtpd.Dir, "mx", "localhost");
        await Tls.CredentialsTable.WriteAsync(Path.Combine(smtpd.Dir, "creds"), ("alice", "wonderland"));
        smtpd.WriteConfig($"""
            pki tlscert cert "{"{dir}"}/mx.crt"
            pki tlscert key "{"{dir}"}/mx.key"
            table creds file:{"{dir}"}/creds
            filter "m" milter "{milter.Address}"
            listen on 127.0.0.1 port {"{port}"} hostname mx.test tls pki tlscert auth <creds> filter "m"
            action "local" maildir "{"{dir}"}/maildirs/%{"{user.username}"}"
            match from any for local action "local"
            """);
        await smtpd.StartAsync();
        await using (var c = await ConnectAsync(smtpd))
        {
            Assert.StartsWith("220", await c.CommandAsync("STARTTLS"));
            await c.StartTlsAsync();
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
            Assert.StartsWith("235", await c.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0wonderland"))));
            Assert.StartsWith("250", await SendAsync(c, $"{Me}@localhost"));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        var frames = await milter.WaitForAsync(0, 'Q', Wait);
        // Each EHLO goes to the milter; the one after STARTTLS with TLS's macros.
        var helos = frames.Zip(frames.Skip(1)).Where(p => p.Second.Code == 'H').Select(p => p.First.Macros()).ToList();
        Assert.Equal(2, helos.Count);
        Assert.Empty(helos[0]);
        Assert.Matches("^TLSv1\\.[23]$", helos[1]["{tls_version}"]);
        Assert.NotEmpty(helos[1]["{cipher}"]);
        Assert.Matches("^[0-9]+$", helos[1]["{cipher_bits}"]);
        var mail = frames.First(f => f.Code == 'D' && f.Data[0] == 'M').Macros();
        Assert.Equal("alice", mail["{auth_authen}"]);
        Assert.Equal("PLAIN", mail["{auth_type}"]);
    }

    [Fact]
    public async Task ARefusalAtConnectIsTheGreetingAndEndsTheSession()
    {
        await using var milter = new ScriptedMilter
        {
            Script = (n, f) => n == 0 && f.Code == 'C' ? MilterAct.Reply(MilterFrame.Of('y', "554 5.7.1 Not from you")) : null,
        };
        await using var smtpd = Start(milter);
        await smtpd.StartAsync();
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.Equal("554 5.7.1 Not from you", await c.ReadReplyAsync());
            Assert.Null(await c.ReadReplyAsync());
        }
        // The milter's connection was closed with an abort and quit; the next session is served.
        await milter.WaitForAsync(0, 'Q', Wait);
        await using var next = await ConnectAsync(smtpd);
        Assert.StartsWith("250", await SendAsync(next, $"{Me}@localhost"));
    }

    sealed class DkimKey(string record) : MimeKit.Cryptography.DkimPublicKeyLocatorBase
    {
        public override Org.BouncyCastle.Crypto.AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken ct = default) =>
            GetPublicKey(record);
        public override Task<Org.BouncyCastle.Crypto.AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken ct = default) =>
            Task.FromResult(GetPublicKey(record));
    }
}
