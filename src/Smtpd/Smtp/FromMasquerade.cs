using System.Text;

namespace Smtpd.Smtp;

/// <summary>
/// <c>senders &lt;table&gt; masquerade</c>: while the header section streams by, every From:
/// header of an authenticated session has its addresses replaced by the MAIL FROM address, as
/// OpenSMTPD's smtp_session.c does (header_address_rewrite_buffer). For each comma-separated
/// address: the part between angle brackets, else the last word outside comments; groups and
/// addresses that do not parse are left alone. Other headers and the body pass byte for byte.
/// Lines are given without their CRLF; a From: header is held until its last continuation line.
/// </summary>
public sealed class FromMasquerade(string sender)
{
    /// <summary>Past this a From: header is stored as it came (rfc5322.c's value buffer).</summary>
    public const int MaxHeld = 64 * 1024;

    // Latin-1 keeps every byte as one char, so the rewrite never alters bytes it does not replace.
    static readonly Encoding Bytes = Encoding.Latin1;
    readonly string _address = Bytes.GetString(Encoding.UTF8.GetBytes(sender));
    readonly List<byte[]> _held = [];
    readonly List<byte[]> _out = [];
    int _heldSize;
    bool _passing; // a From: header too long to rewrite: its continuation lines pass as they come

    /// <summary>False once the empty line that ends the header section has gone by.</summary>
    public bool InHeaders { get; private set; } = true;

    /// <summary>One line of the message; returns the lines to store now, in order (none while a From: header is held).</summary>
    public IReadOnlyList<byte[]> Push(ReadOnlySpan<byte> line)
    {
        _out.Clear();
        bool continuation = line.Length > 0 && line[0] is (byte)' ' or (byte)'\t';
        if (continuation && _held.Count > 0)
        {
            _held.Add(line.ToArray());
            _heldSize += line.Length + 2;
            if (_heldSize > MaxHeld) { _out.AddRange(_held); _held.Clear(); _passing = true; }
            return _out;
        }
        if (continuation && _passing) { _out.Add(line.ToArray()); return _out; }
        Flush();
        _passing = false;
        if (line.Length == 0) InHeaders = false;
        else if (line.Length >= 5 && Ascii.EqualsIgnoreCase(line[..5], "From:"u8))
        {
            _held.Add(line.ToArray());
            _heldSize = line.Length + 2;
            return _out;
        }
        _out.Add(line.ToArray());
        return _out;
    }

    /// <summary>At the end of the data: a From: header still held (a message of headers only).</summary>
    public IReadOnlyList<byte[]> End()
    {
        _out.Clear();
        Flush();
        return _out;
    }

    void Flush()
    {
        if (_held.Count == 0) return;
        string header = string.Join("\r\n", _held.Select(l => Bytes.GetString(l)));
        _held.Clear();
        string rewritten = header[..5] + RewriteValue(header[5..], _address);
        foreach (string l in rewritten.Split("\r\n")) _out.Add(Bytes.GetBytes(l));
    }

    /// <summary>The value of a From: header (after the colon, continuation lines joined by CRLF) with each address replaced.</summary>
    public static string RewriteValue(string value, string address) =>
        AddressListText.MapAddresses(value, a => RewriteAddress(a, address));

    /// <summary>One address of the list: the bracketed part, else the last word outside comments, becomes the sender.</summary>
    static string RewriteAddress(string a, string address)
    {
        bool escape = false, quote = false, bracketOpen = false, hasBracket = false, group = false;
        int comment = 0, bracketBegin = 0, bracketEnd = 0, last = -1;
        for (int i = 0; i < a.Length; i++)
        {
            char c = a[i];
            if (c == '(' && !escape && !quote) comment++;
            if (c == '"' && !escape && comment == 0) quote = !quote;
            if (c == ')' && !escape && !quote && comment > 0) comment--;
            bool wasEscaped = escape;
            escape = c == '\\' && !escape && comment == 0;
            if (wasEscaped) { if (comment == 0 && !char.IsWhiteSpace(c)) last = i; continue; }
            if (c == '<' && comment == 0 && !quote && !bracketOpen) { bracketOpen = true; hasBracket = true; bracketBegin = i + 1; }
            if (c == '>' && comment == 0 && !quote && bracketOpen) { bracketOpen = false; bracketEnd = i; }
            if (c == ':' && comment == 0 && !quote) group = true;
            if (comment == 0 && c != ')' && !char.IsWhiteSpace(c)) last = i;
        }
        if (escape || quote || comment > 0 || bracketOpen || group) return a;
        if (hasBracket) return a[..bracketBegin] + address + a[bracketEnd..];
        if (last < 0) return a; // an empty address: nothing to replace
        int begin = last;
        while (begin > 0 && a[begin - 1] != ')' && !char.IsWhiteSpace(a[begin - 1])) begin--;
        return a[..begin] + address + a[(last + 1)..];
    }
}
