using System.Buffers.Binary;

namespace Smtpd.Filter.Milter;

/// <summary>
/// SMFIC_OPTNEG: we offer version 6, every action we can apply and every step we can skip; the
/// milter answers with what it wants (a subset) and, with SMFIF_SETSYMLIST, the macros it wants
/// at each stage.
/// </summary>
/// <param name="Actions">The modifications it may ask for (what it asked, within what we offered).</param>
/// <param name="Steps">Stages it skips or does not answer.</param>
/// <param name="SymbolLists">Macro names it asked for, by stage; a stage not listed gets our defaults.</param>
public sealed record MilterNegotiation(uint Version, MilterActions Actions, MilterSteps Steps, IReadOnlyDictionary<MacroStage, IReadOnlyList<string>> SymbolLists)
{
    /// <summary>Our offer.</summary>
    public static MilterPacket Offer()
    {
        var data = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(data, MilterProtocol.Version);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4), (uint)MilterActions.All);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8), (uint)MilterSteps.Offered);
        return new MilterPacket(MilterCommand.OptionNegotiation, data);
    }

    /// <summary>The milter's answer to <see cref="Offer"/>.</summary>
    /// <exception cref="MilterProtocolException">Not an OPTNEG answer, a version we do not speak, or steps we did not offer.</exception>
    public static MilterNegotiation Parse(MilterPacket reply)
    {
        if (reply.Code != MilterCommand.OptionNegotiation) throw new MilterProtocolException($"answered option negotiation with '{(char)reply.Code}'");
        uint version = reply.ReadUInt32(0);
        // Version 2 and up have the same layout; Postfix talks to all of them.
        if (version is < 2 or > MilterProtocol.Version) throw new MilterProtocolException($"protocol version {version}");
        var actions = (MilterActions)reply.ReadUInt32(4);
        var steps = (MilterSteps)reply.ReadUInt32(8);
        // Size hints (SMFIP_MDS_*) are about what libmilter can take; our chunks are within all of them.
        steps &= ~(MilterSteps)0x30000000;
        if ((steps & ~MilterSteps.Offered) != 0) throw new MilterProtocolException($"asked for protocol steps 0x{(uint)(steps & ~MilterSteps.Offered):x} we did not offer");
        if ((actions & ~MilterActions.All) != 0) throw new MilterProtocolException($"asked for actions 0x{(uint)(actions & ~MilterActions.All):x} we did not offer");

        var lists = new Dictionary<MacroStage, IReadOnlyList<string>>();
        int offset = 12;
        while (offset < reply.Data.Length)
        {
            uint stage = reply.ReadUInt32(offset);
            offset += 4;
            var rest = reply.Data.Span[offset..];
            int nul = rest.IndexOf((byte)0);
            if (nul < 0) throw new MilterProtocolException("symbol list without its NUL");
            if (stage <= (uint)MacroStage.EndOfHeaders && (actions & MilterActions.SetSymbolList) != 0)
                lists[(MacroStage)stage] = MilterPacket.Text.GetString(rest[..nul]).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            offset += nul + 1;
        }
        return new MilterNegotiation(version, actions, steps, lists);
    }

    public bool Has(MilterSteps step) => (Steps & step) != 0;
    public bool May(MilterActions action) => (Actions & action) != 0;
}
