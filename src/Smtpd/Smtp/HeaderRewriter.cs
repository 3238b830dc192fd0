using System.Globalization;
using System.Text;

namespace Smtpd.Smtp;

/// <summary>
/// What OpenSMTPD's smtp_session.c does to the header section of every message it receives, as
/// the lines stream by (smtp_tx_dataline):
/// <list type="bullet">
/// <item><c>Bcc:</c> headers are dropped, continuation lines included (RFC 5322 3.6.3: the
/// other recipients must not see them).</item>
/// <item>In <c>From:</c>, <c>To:</c> and <c>Cc:</c>, an address without a domain gets the
/// listener's name (header_append_domain_buffer), as the envelope's addresses do.</item>
/// <item>With <c>senders &lt;table&gt; masquerade</c>, <c>From:</c> addresses become the MAIL FROM.</item>
/// <item>On a submission listener (the local socket, a loopback address or port 587), a message
/// without <c>Date:</c> or <c>Message-ID:</c> gets one at the end of its header section
/// (RFC 6409 8.2 and 8.3).</item>
/// </list>
/// Lines are given without their CRLF. A From:/To:/Cc: header is held until its last continuation
/// line (up to <see cref="MaxHeld"/>; a longer one passes as it came). Everything else passes byte
/// for byte, so nothing but the header section is ever held in memory.
/// </summary>
/// <param name="domain">The name addresses without a domain get (the listener's hostname).</param>
/// <param name="addMissing">Whether a missing Date: or Message-ID: is added (submission listeners).</param>
/// <param name="now">The time of the transaction, for Date:.</param>
/// <param name="masqueradeSender">The MAIL FROM that replaces From: addresses, or null.</param>
public sealed class HeaderRewriter(string domain, bool addMissing, DateTimeOffset now, string? masqueradeSender = null)
{
    /// <summary>Past this a held header is stored as it came (rfc5322.c's value buffer).</summary>
    public const int MaxHeld = 64 * 1024;

    // Latin-1 keeps every byte as one char, so a rewrite never alters bytes it does not replace.
    static readonly Encoding Bytes = Encoding.Latin1;
    readonly List<byte[]> _held = [];
    readonly List<byte[]> _out = [];
    int _heldSize;
    bool _dropping;   // the current header is a Bcc: its continuation lines go with it
    bool _hasDate, _hasMessageId;

    /// <summary>False once the header section has ended (the empty line, or a line that is no header).</summary>
    public bool InHeaders { get; private set; } = true;

    /// <summary>One line of the header section; returns the lines to store now, in order.</summary>
    public IReadOnlyList<byte[]> Push(ReadOnlySpan<byte> line)
    {
        _out.Clear();
        bool continuation = line.Length > 0 && line[0] is (byte)' ' or (byte)'\t';
        if (continuation)
        {
            if (_dropping) return _out;
            if (_held.Count > 0)
            {
                _held.Add(line.ToArray());
                _heldSize += line.Length + 2;
                if (_heldSize > MaxHeld) { _out.AddRange(_held); _held.Clear(); }
                return _out;
            }
            _out.Add(line.ToArray());
            return _out;
        }

        Flush();
        _dropping = false;
        int colon = FieldNameEnd(line);
        if (colon < 0)
        {
            // The empty line that ends the header section, or a body that starts without one (OpenSMTPD
            // refuses such a message as malformed; we keep it as it came, adding nothing to a header
            // section it does not have).
            InHeaders = false;
            if (line.Length == 0) AddMissing();
            _out.Add(line.ToArray());
            return _out;
        }
        var name = line[..colon].TrimEnd(" \t"u8);
        if (Ascii.EqualsIgnoreCase(name, "Bcc"u8)) { _dropping = true; return _out; }
        if (Ascii.EqualsIgnoreCase(name, "Date"u8)) _hasDate = true;
        else if (Ascii.EqualsIgnoreCase(name, "Message-ID"u8)) _hasMessageId = true;
        if (Ascii.EqualsIgnoreCase(name, "From"u8) || Ascii.EqualsIgnoreCase(name, "To"u8) || Ascii.EqualsIgnoreCase(name, "Cc"u8))
        {
            _held.Add(line.ToArray());
            _heldSize = line.Length + 2;
            return _out;
        }
        _out.Add(line.ToArray());
        return _out;
    }

    /// <summary>At the end of the data while still in the header section (a message of headers only).</summary>
    public IReadOnlyList<byte[]> End()
    {
        _out.Clear();
        Flush();
        if (InHeaders)
        {
            InHeaders = false;
            AddMissing();
        }
        return _out;
    }

    void AddMissing()
    {
        if (!addMissing) return;
        if (!_hasDate) _out.Add(Bytes.GetBytes("Date: " + FormatDate(now)));
        if (!_hasMessageId) _out.Add(Bytes.GetBytes($"Message-ID: <{SecureRandom.Hex(8)}@{domain}>"));
    }

    /// <summary>RFC 5322 3.3 date-time, as time_to_text() writes it but without the zone's comment.</summary>
    public static string FormatDate(DateTimeOffset when)
    {
        var offset = when.Offset;
        return when.ToString("ddd, d MMM yyyy HH:mm:ss ", CultureInfo.InvariantCulture)
            + (offset < TimeSpan.Zero ? '-' : '+')
            + Math.Abs(offset.Hours).ToString("00", CultureInfo.InvariantCulture)
            + Math.Abs(offset.Minutes).ToString("00", CultureInfo.InvariantCulture);
    }

    /// <summary>The index of the colon ending a field name (printable ASCII, RFC 5322 2.2), or -1.</summary>
    static int FieldNameEnd(ReadOnlySpan<byte> line)
    {
        bool space = false; // obs-optional (RFC 5322 4.5.8): "Subject :"
        for (int i = 0; i < line.Length; i++)
        {
            byte b = line[i];
            if (b == (byte)':') return i > 0 ? i : -1;
            if (b is (byte)' ' or (byte)'\t' && i > 0) space = true;
            else if (space || b is < 33 or > 126) return -1;
        }
        return -1;
    }

    void Flush()
    {
        if (_held.Count == 0) return;
        string header = string.Join("\r\n", _held.Select(l => Bytes.GetString(l)));
        _held.Clear();
        int colon = header.IndexOf(':');
        string name = header[..colon];
        string value = QualifyValue(header[(colon + 1)..], Bytes.GetString(Encoding.UTF8.GetBytes(domain)));
        if (masqueradeSender is not null && name.TrimEnd().Equals("From", StringComparison.OrdinalIgnoreCase))
            value = FromMasquerade.RewriteValue(value, Bytes.GetString(Encoding.UTF8.GetBytes(masqueradeSender)));
        foreach (string l in (name + ":" + value).Split("\r\n")) _out.Add(Bytes.GetBytes(l));
    }

    /// <summary>An address list (a header's value) with <c>@domain</c> appended to each address that has none.</summary>
    public static string QualifyValue(string value, string domain) =>
        AddressListText.MapAddresses(value, a => QualifyAddress(a, domain));

    /// <summary>
    /// One address of a list: the bracketed part, else the last word outside comments, gets the
    /// domain. Left alone: an address with one, a group, an empty <c>&lt;&gt;</c>, and anything that
    /// does not parse (an open quote, comment or bracket).
    /// </summary>
    static string QualifyAddress(string a, string domain)
    {
        bool escape = false, quote = false, bracketOpen = false, hasBracket = false, hasDomain = false, group = false;
        int comment = 0, bracketEnd = 0, last = -1;
        for (int i = 0; i < a.Length; i++)
        {
            char c = a[i];
            if (c == '(' && !escape && !quote) comment++;
            if (c == '"' && !escape && comment == 0) quote = !quote;
            if (c == ')' && !escape && !quote && comment > 0) comment--;
            bool wasEscaped = escape;
            escape = c == '\\' && !escape && comment == 0;
            if (wasEscaped) { if (comment == 0 && !char.IsWhiteSpace(c)) last = i; continue; }
            if (c == '<' && comment == 0 && !quote && !bracketOpen) { bracketOpen = true; hasBracket = true; }
            if (c == '>' && comment == 0 && !quote && bracketOpen) { bracketOpen = false; bracketEnd = i; }
            if (c == '@' && comment == 0 && !quote) hasDomain = true;
            if (c == ':' && comment == 0 && !quote) group = true;
            if (comment == 0 && c != ')' && !char.IsWhiteSpace(c)) last = i;
        }
        if (escape || quote || comment > 0 || bracketOpen || hasDomain || group) return a;
        int insert;
        if (hasBracket)
        {
            int p = bracketEnd - 1;
            while (p >= 0 && char.IsWhiteSpace(a[p])) p--;
            if (p < 0 || a[p] == '<') return a; // <>: nothing to qualify
            insert = p + 1;
        }
        else
        {
            if (last < 0) return a; // an empty address
            insert = last + 1;
        }
        return a[..insert] + "@" + domain + a[insert..];
    }
}
