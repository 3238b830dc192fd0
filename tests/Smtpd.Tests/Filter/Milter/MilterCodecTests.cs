using System.Buffers.Binary;
using System.Text;
using Smtpd.Filter.Milter;

namespace Smtpd.Tests.Filter.Milter;

/// <summary>The milter client's pieces without a daemon: framing, negotiation, header edits, multi-line replies.</summary>
public sealed class MilterCodecTests
{
    static byte[] Negotiation(uint version, uint actions, uint steps, params (uint Stage, string Names)[] lists)
    {
        var data = new List<byte>();
        foreach (uint v in new[] { version, actions, steps }) { var b = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); data.AddRange(b); }
        foreach (var (stage, names) in lists)
        {
            var b = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b, stage);
            data.AddRange(b);
            data.AddRange(Encoding.ASCII.GetBytes(names + "\0"));
        }
        return [.. data];
    }

    [Fact]
    public async Task APacketIsItsLengthCodeAndData()
    {
        var packet = MilterPacket.Strings((byte)'H', "client.example");
        Assert.Equal([0, 0, 0, 16, (byte)'H', .. Encoding.ASCII.GetBytes("client.example"), 0], packet.Encode());
        var read = await MilterPacket.ReadAsync(new MemoryStream(packet.Encode()), CancellationToken.None);
        Assert.Equal(["client.example"], read.ReadStrings());
        await Assert.ThrowsAsync<MilterProtocolException>(() => MilterPacket.ReadAsync(new MemoryStream([0, 0, 0, 0]), CancellationToken.None));
        await Assert.ThrowsAsync<MilterProtocolException>(() => MilterPacket.ReadAsync(new MemoryStream([0x7f, 0, 0, 0, (byte)'c']), CancellationToken.None));
        await Assert.ThrowsAsync<EndOfStreamException>(() => MilterPacket.ReadAsync(new MemoryStream([0, 0, 0, 9, (byte)'y']), CancellationToken.None));
        Assert.Throws<MilterProtocolException>(() => new MilterPacket((byte)'h', Encoding.ASCII.GetBytes("X-A\0no nul")).ReadStrings());
    }

    [Fact]
    public void NegotiationTakesWhatTheMilterAsksWithinWhatWeOffer()
    {
        var offer = MilterNegotiation.Offer();
        Assert.Equal((byte)'O', offer.Code);
        Assert.Equal(6u, BinaryPrimitives.ReadUInt32BigEndian(offer.Data.Span));

        var n = MilterNegotiation.Parse(new MilterPacket((byte)'O', Negotiation(6, 0x1 | 0x100, 0x80 | 0x2, (2, "{mail_addr} i"), (9, "ignored"))));
        Assert.True(n.May(MilterActions.AddHeaders));
        Assert.False(n.May(MilterActions.ChangeBody));
        Assert.True(n.Has(MilterSteps.NoReplyHeader));
        Assert.True(n.Has(MilterSteps.NoHelo));
        Assert.Equal(["{mail_addr}", "i"], n.SymbolLists[MacroStage.Mail]);
        Assert.Single(n.SymbolLists);
        // Without SMFIF_SETSYMLIST its lists are not taken.
        Assert.Empty(MilterNegotiation.Parse(new MilterPacket((byte)'O', Negotiation(6, 0x1, 0, (2, "i")))).SymbolLists);
        // Older versions have the same layout.
        Assert.Equal(2u, MilterNegotiation.Parse(new MilterPacket((byte)'O', Negotiation(2, 0x1, 0))).Version);

        Assert.Throws<MilterProtocolException>(() => MilterNegotiation.Parse(new MilterPacket((byte)'O', Negotiation(7, 0, 0))));
        // SMFIP_RCPT_REJ was not offered.
        Assert.Throws<MilterProtocolException>(() => MilterNegotiation.Parse(new MilterPacket((byte)'O', Negotiation(6, 0, 0x800))));
        Assert.Throws<MilterProtocolException>(() => MilterNegotiation.Parse(new MilterPacket((byte)'c', Array.Empty<byte>())));
        Assert.Throws<MilterProtocolException>(() => MilterNegotiation.Parse(new MilterPacket((byte)'O', new byte[8])));
    }

    [Fact]
    public void MacrosAreTheStageListWithValuesOnly()
    {
        var n = MilterNegotiation.Parse(new MilterPacket((byte)'O', Negotiation(6, 0x100, 0, (0, "j {client_addr} {nothing}"))));
        var packet = MilterMacros.Packet(MacroStage.Connect, n, name => name switch { "j" => "mx.test", "{client_addr}" => "192.0.2.1", _ => null });
        Assert.Equal("Cj\0mx.test\0{client_addr}\0192.0.2.1\0", Encoding.ASCII.GetString(packet.Data.Span));
        // A stage whose macros have no value still gets its packet, as from Postfix.
        Assert.Equal("H", Encoding.ASCII.GetString(MilterMacros.Packet(MacroStage.Helo, n, _ => null).Data.Span));
    }

    static MessageHeaders Headers(params string[] lines)
    {
        var h = new MessageHeaders();
        foreach (var l in lines) Assert.True(h.TryAdd(l), l);
        return h;
    }

    [Fact]
    public void HeaderValuesLoseOneSpaceAfterTheColonAndFoldWithLf()
    {
        var h = Headers("Subject:  two", "X-Tab:\ttab", "X-Folded: first", "\tsecond", "X-Empty:");
        Assert.Equal(" two", h.Fields[0].Value(false));
        Assert.Equal("  two", h.Fields[0].Value(true));
        Assert.Equal("\ttab", h.Fields[1].Value(false));
        Assert.Equal("first\n\tsecond", h.Fields[2].Value(false));
        Assert.Equal("", h.Fields[3].Value(false));
        Assert.False(new MessageHeaders().TryAdd(" continuation first"));
        Assert.False(new MessageHeaders().TryAdd("not a header"));
    }

    [Fact]
    public void HeaderEditsAddInsertChangeAndDelete()
    {
        var h = Headers("Received: ours", "Subject: one", "X-A: 1", "X-A: 2");
        h.Add("X-Added", "value\nnext", leadingSpace: false);
        h.Insert(0, "X-Top", "top", leadingSpace: false);
        h.Insert(99, "X-End", " kept space", leadingSpace: true);
        // The second X-A counted without our Received (hidden from the milter): "2" changes.
        h.Change(2, "x-a", "two", leadingSpace: false, hidden: 1);
        h.Change(1, "Subject", "", leadingSpace: false, hidden: 1);
        h.Change(1, "X-Missing", "added", leadingSpace: false, hidden: 1);
        h.Change(3, "X-A", "", leadingSpace: false, hidden: 1); // not there: nothing to delete
        Assert.Equal(string.Join("\r\n",
            "X-Top: top", "Received: ours", "X-A: 1", "X-A: two", "X-Added: value", "\tnext", "X-End: kept space", "X-Missing: added"), h.ToString());
    }

    [Fact]
    public void AMultiLineReplyKeepsItsLinesAndCode()
    {
        var reply = Smtpd.Smtp.Replies.FromFilter("550-5.7.1 first line\r\n550 5.7.1 second line");
        Assert.Equal("550-5.7.1 first line\r\n550 5.7.1 second line\r\n", Encoding.UTF8.GetString(reply.Bytes.Span));
        // Lines that disagree on the code are not a reply.
        Assert.Equal(421, Smtpd.Smtp.Replies.FromFilter("550-first\r\n450 second").Code);
    }

    [Fact]
    public async Task TheSpoolIsPrivateGivesBackItsLinesAndGoesAway()
    {
        string path;
        using (var spool = new MessageSpool())
        {
            path = spool.FilePath;
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            await spool.WriteAsync(Encoding.ASCII.GetBytes("one\r\ntwo\nthree"));
            var lines = new List<string>();
            await foreach (var line in spool.ReadLinesAsync()) lines.Add(Encoding.ASCII.GetString(line));
            Assert.Equal(["one", "two", "three"], lines);
        }
        Assert.False(File.Exists(path));
    }
}
