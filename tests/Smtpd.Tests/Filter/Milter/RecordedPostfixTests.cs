using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Filter.Milter;

// Path of the mail: SmtpDialogue → smtpd on 127.0.0.1:{port} (listener "filter m") ⇄ ScriptedMilter
// answering as postfix-recorder.py did → fs queue → maildir. What smtpd sends the milter is
// compared, packet by packet, with what Postfix 3.7.11 sent for the same session
// (postfix-3.7.11-session.txt, recorded once).
public sealed class RecordedPostfixTests
{
    internal const string Message = "From: Alice <alice@example.org>\r\nTo: smtpdtest@localhost\r\nSubject: milter test\r\n" +
        "Date: Wed, 02 Dec 2026 12:00:00 +0000\r\nMessage-ID: <compare@example.org>\r\n" +
        "X-Folded: first\r\n\tsecond\r\nX-Space:  two spaces\r\nX-Tab:\ttab\r\n\r\nbody line 1\r\n..dotted line\r\nbody line 3";

    /// <summary>Macros whose values differ by design: the version, the queue id's form, Postfix's transport names.</summary>
    static readonly HashSet<string> OwnValues = ["v", "i", "{mail_mailer}", "{rcpt_mailer}"];

    static List<MilterFrame> Recorded()
    {
        var frames = new List<MilterFrame>();
        foreach (var line in File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Filter", "Milter", "postfix-3.7.11-session.txt")))
        {
            if (line.StartsWith('#')) continue;
            var data = new List<byte>();
            for (int i = 2; i < line.Length; i++)
            {
                if (line[i] == '|') data.Add(0);
                else if (line[i] == '\\') { data.Add(byte.Parse(line.AsSpan(i + 2, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)); i += 3; }
                else data.Add((byte)line[i]);
            }
            frames.Add(new MilterFrame(line[0], [.. data]));
        }
        return frames;
    }

    [Fact]
    public async Task WhatWeSendAMilterIsWhatPostfixSends()
    {
        Assert.Equal("smtpdtest", MilterTests.Me); // the recording's recipient
        await using var milter = new ScriptedMilter();
        await using var smtpd = MilterTests.Start(milter);
        await smtpd.StartAsync();
        await using (var c = await SmtpDialogue.ConnectAsync(smtpd.Port))
        {
            Assert.StartsWith("220", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"));
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<alice@example.org> SIZE=100"));
            Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<smtpdtest@localhost>"));
            Assert.StartsWith("354", await c.CommandAsync("DATA"));
            Assert.StartsWith("250", await c.CommandAsync(Message + "\r\n."));
            Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<bob@example.org>"));
            Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<smtpdtest@localhost>"));
            Assert.StartsWith("250", await c.CommandAsync("RSET"));
            Assert.StartsWith("221", await c.CommandAsync("QUIT"));
        }
        var ours = await milter.WaitForAsync(0, 'Q', MilterTests.Wait);
        var postfix = Recorded();
        Assert.Equal(string.Concat(postfix.Select(f => f.Code)), string.Concat(ours.Select(f => f.Code)));

        foreach (var (theirs, mine) in postfix.Zip(ours))
        {
            switch (theirs.Code)
            {
                case 'O':
                    // Version and actions as Postfix; the steps too, but for SMFIP_RCPT_REJ (we do not show refused recipients).
                    Assert.Equal(theirs.Data[..8], mine.Data[..8]);
                    Assert.Equal(BinaryPrimitives.ReadUInt32BigEndian(theirs.Data.AsSpan(8)) & ~0x800u, BinaryPrimitives.ReadUInt32BigEndian(mine.Data.AsSpan(8)));
                    break;
                case 'D':
                    Assert.Equal(theirs.Data[0], mine.Data[0]);
                    var ourMacros = mine.Macros();
                    foreach (var (name, value) in theirs.Macros())
                    {
                        Assert.True(ourMacros.TryGetValue(name, out var v), $"macro {name} missing before '{(char)mine.Data[0]}': {mine}");
                        if (!OwnValues.Contains(name)) Assert.Equal(value, v);
                    }
                    break;
                case 'C':
                    // The client's port is the only difference (two bytes after the family).
                    int nul = Array.IndexOf(theirs.Data, (byte)0);
                    Assert.Equal(theirs.Data[..(nul + 2)], mine.Data[..(nul + 2)]);
                    Assert.Equal(theirs.Data[(nul + 4)..], mine.Data[(nul + 4)..]);
                    break;
                default:
                    Assert.True(theirs.Data.AsSpan().SequenceEqual(mine.Data), $"'{theirs.Code}': Postfix sent {theirs}, we sent {mine}");
                    break;
            }
        }
    }
}
