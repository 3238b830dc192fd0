using System.Text;

namespace Smtpd.Filter.Milter;

/// <summary>
/// A message's header section as lines (bytes as Latin-1 chars, without CRLF), field by field,
/// with the milter's edits: SMFIR_ADDHEADER appends, SMFIR_INSHEADER inserts at a position,
/// SMFIR_CHGHEADER changes or (with an empty value) deletes the Nth field of a name.
/// </summary>
public sealed class MessageHeaders
{
    /// <summary>One field: its name and its lines, the first starting with "Name:".</summary>
    public sealed record Field(string Name, List<string> Lines)
    {
        /// <summary>The value as a milter gets it (as Sendmail and Postfix send it): after the colon, folded
        /// lines joined by LF; one space (not a tab) after the colon dropped unless <paramref name="keepLeadingSpace"/>.</summary>
        public string Value(bool keepLeadingSpace)
        {
            string value = string.Join("\n", Lines)[(Name.Length + 1)..];
            return keepLeadingSpace || !value.StartsWith(' ') ? value : value[1..];
        }
    }

    readonly List<Field> _fields = [];

    public IReadOnlyList<Field> Fields => _fields;

    /// <summary>RFC 5322 2.2: a field name is printable ASCII other than ':', then a colon.</summary>
    public static bool IsFieldStart(string line)
    {
        int colon = line.IndexOf(':');
        return colon > 0 && line.AsSpan(0, colon).IndexOfAnyExceptInRange('!', '~') < 0;
    }

    /// <summary>A line of the header section: a new field, or (starting with a blank) the previous one's continuation.</summary>
    /// <returns>False if it belongs to neither (the body starts here).</returns>
    public bool TryAdd(string line)
    {
        if (line.Length > 0 && line[0] is ' ' or '\t')
        {
            if (_fields.Count == 0) return false;
            _fields[^1].Lines.Add(line);
            return true;
        }
        if (!IsFieldStart(line)) return false;
        _fields.Add(new Field(line[..line.IndexOf(':')], [line]));
        return true;
    }

    /// <summary>A field as a milter's value describes it: LF (or CRLF) separates folded lines, and unless the milter
    /// keeps leading spaces (SMFIP_HDR_LEADSPC) one space follows the colon.</summary>
    static Field Make(string name, string value, bool leadingSpace)
    {
        var parts = value.Replace("\r\n", "\n").Split('\n');
        var lines = new List<string> { name + ":" + (leadingSpace ? "" : " ") + parts[0] };
        // A continuation line must start with a blank, or it would end the field.
        lines.AddRange(parts.Skip(1).Select(p => p.Length > 0 && p[0] is ' ' or '\t' ? p : "\t" + p));
        return new Field(name, lines);
    }

    public void Add(string name, string value, bool leadingSpace) => _fields.Add(Make(name, value, leadingSpace));

    /// <summary>SMFIR_INSHEADER: index 0 is before the first field; past the end appends.</summary>
    public void Insert(uint index, string name, string value, bool leadingSpace) =>
        _fields.Insert((int)Math.Min(index, (uint)_fields.Count), Make(name, value, leadingSpace));

    /// <summary>SMFIR_CHGHEADER: the <paramref name="index"/>th (from 1) field named <paramref name="name"/>,
    /// counted without the first <paramref name="hidden"/> fields (ours, which the milter did not see);
    /// an empty value deletes it; a field that is not there is added (when there is a value).</summary>
    public void Change(uint index, string name, string value, bool leadingSpace, int hidden = 0)
    {
        uint seen = 0;
        for (int i = hidden; i < _fields.Count; i++)
        {
            if (!_fields[i].Name.Equals(name, StringComparison.OrdinalIgnoreCase) || ++seen != Math.Max(index, 1)) continue;
            if (value.Length == 0) _fields.RemoveAt(i);
            else _fields[i] = Make(_fields[i].Name, value, leadingSpace);
            return;
        }
        if (value.Length > 0) Add(name, value, leadingSpace);
    }

    /// <summary>Every line, in order.</summary>
    public IEnumerable<string> Lines => _fields.SelectMany(f => f.Lines);

    public override string ToString() => string.Join("\r\n", Lines);
}
