namespace Smtpd.Filter.Milter;

/// <summary>
/// The names of the Sendmail milter protocol, version 6 (libmilter's mfdef.h, as Postfix's
/// milter8 speaks it): command and reply codes are one ASCII byte, flags are bit masks.
/// </summary>
public static class MilterProtocol
{
    public const uint Version = 6;
    /// <summary>The largest packet we accept from a milter (libmilter's own limit is about this).</summary>
    public const int MaxPacket = 2 * 1024 * 1024;
    /// <summary>The most body bytes one SMFIC_BODY carries (libmilter's MILTER_CHUNK_SIZE).</summary>
    public const int BodyChunk = 65535;
}

/// <summary>What the MTA sends (SMFIC_*).</summary>
public static class MilterCommand
{
    public const byte Abort = (byte)'A';
    public const byte Body = (byte)'B';
    public const byte Connect = (byte)'C';
    public const byte Macro = (byte)'D';
    public const byte EndOfBody = (byte)'E';
    public const byte Helo = (byte)'H';
    public const byte QuitNewConnection = (byte)'K';
    public const byte Header = (byte)'L';
    public const byte Mail = (byte)'M';
    public const byte EndOfHeaders = (byte)'N';
    public const byte OptionNegotiation = (byte)'O';
    public const byte Quit = (byte)'Q';
    public const byte Rcpt = (byte)'R';
    public const byte Data = (byte)'T';
    public const byte Unknown = (byte)'U';
}

/// <summary>What a milter answers (SMFIR_*).</summary>
public static class MilterReply
{
    public const byte AddRcpt = (byte)'+';
    public const byte DeleteRcpt = (byte)'-';
    public const byte AddRcptWithArgs = (byte)'2';
    public const byte Shutdown = (byte)'4';
    public const byte Accept = (byte)'a';
    public const byte ReplaceBody = (byte)'b';
    public const byte Continue = (byte)'c';
    public const byte Discard = (byte)'d';
    public const byte ChangeFrom = (byte)'e';
    public const byte ConnectionFail = (byte)'f';
    public const byte AddHeader = (byte)'h';
    public const byte InsertHeader = (byte)'i';
    public const byte SetSymbolList = (byte)'l';
    public const byte ChangeHeader = (byte)'m';
    public const byte Progress = (byte)'p';
    public const byte Quarantine = (byte)'q';
    public const byte Reject = (byte)'r';
    public const byte Skip = (byte)'s';
    public const byte TempFail = (byte)'t';
    public const byte ReplyCode = (byte)'y';
}

/// <summary>The modifications a milter may ask for at end of message (SMFIF_*).</summary>
[Flags]
public enum MilterActions : uint
{
    None = 0,
    AddHeaders = 0x01,
    ChangeBody = 0x02,
    AddRcpt = 0x04,
    DeleteRcpt = 0x08,
    ChangeHeaders = 0x10,
    Quarantine = 0x20,
    ChangeFrom = 0x40,
    AddRcptWithArgs = 0x80,
    SetSymbolList = 0x100,
    /// <summary>Everything we can do.</summary>
    All = 0x1ff,
}

/// <summary>Stages the milter skips, stages it will not answer, and what the MTA understands (SMFIP_*).</summary>
[Flags]
public enum MilterSteps : uint
{
    None = 0,
    NoConnect = 0x1,
    NoHelo = 0x2,
    NoMail = 0x4,
    NoRcpt = 0x8,
    NoBody = 0x10,
    NoHeaders = 0x20,
    NoEndOfHeaders = 0x40,
    NoReplyHeader = 0x80,
    NoUnknown = 0x100,
    NoData = 0x200,
    Skip = 0x400,
    RcptRejected = 0x800,
    NoReplyConnect = 0x1000,
    NoReplyHelo = 0x2000,
    NoReplyMail = 0x4000,
    NoReplyRcpt = 0x8000,
    NoReplyData = 0x10000,
    NoReplyUnknown = 0x20000,
    NoReplyEndOfHeaders = 0x40000,
    NoReplyBody = 0x80000,
    HeaderLeadingSpace = 0x100000,
    /// <summary>What we offer: every skip and no-reply step, SMFIR_SKIP, leading spaces kept.
    /// Not offered: unknown commands (we never send them) and rejected recipients.</summary>
    Offered = NoConnect | NoHelo | NoMail | NoRcpt | NoBody | NoHeaders | NoEndOfHeaders | NoReplyHeader | NoUnknown | NoData
        | Skip | NoReplyConnect | NoReplyHelo | NoReplyMail | NoReplyRcpt | NoReplyData | NoReplyUnknown | NoReplyEndOfHeaders
        | NoReplyBody | HeaderLeadingSpace,
}

/// <summary>The stages SMFIR_SETSYMLIST names (SMFIM_*), each with the command its macros precede.</summary>
public enum MacroStage { Connect = 0, Helo = 1, Mail = 2, Rcpt = 3, Data = 4, EndOfMessage = 5, EndOfHeaders = 6 }
