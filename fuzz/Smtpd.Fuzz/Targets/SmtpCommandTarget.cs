using System.Buffers;
using System.Net;
using System.Text;
using Smtpd.Config;
using Smtpd.Lookup;
using Smtpd.Queue;
using Smtpd.Smtp;
using Smtpd.Smtp.Auth;
using Smtpd.Smtp.Tls;
using Smtpd.Table;

namespace Smtpd.Fuzz;

/// <summary>
/// What a client sends, from the first byte: the input is the whole client side of a connection.
/// It runs through a real <see cref="SmtpSession"/> over an in-memory connection (RAM queue, no
/// filters, no TLS, so AUTH is refused before SASL), whose replies must be well-formed SMTP; then
/// every line goes through the command parsers directly, split into verb and arguments as
/// <c>HandleCommandAsync</c> does, including the SASL decoder the session cannot reach without
/// TLS; and the whole input goes through <see cref="DataReader"/>, whole and in pieces.
/// </summary>
public sealed class SmtpCommandTarget : IFuzzTarget, IDisposable
{
    const string Config = """
        table aliases { postmaster = alice, list = "alice, bob", bob = "|/bin/true" }
        listen on localhost
        action "local" mbox alias <aliases>
        action "out" relay
        match from any for domain "example.org" action "local"
        match for local action "local"
        match from any mail-from "@example.com" for any action "out"
        match from any for any reject
        """;

    static readonly IPEndPoint Client = new(IPAddress.Parse("192.0.2.7"), 40125);

    readonly Ruleset _ruleset;
    readonly TableSet _tables;
    readonly RecipientResolver _recipients;
    readonly ListenerSetup _setup;
    readonly SmtpdLog _log = new(foreground: true, verbose: false, stderr: TextWriter.Null);

    public SmtpCommandTarget()
    {
        _ruleset = ConfigParser.Parse(Config, "fuzz.conf");
        _tables = new TableSet(_ruleset);
        var matcher = new RuleMatcher(_ruleset, _tables, new LocalNames("mx.example.org"));
        _recipients = new RecipientResolver(_ruleset, matcher, name => name is "alice" or "bob" ? name : null, _tables);
        var listener = _ruleset.Listeners[0];
        _setup = new ListenerSetup(listener, ListenerSecurity.From(listener), null);
    }

    public string Name => "smtp-command";

    public void Run(byte[] input)
    {
        RunSession(input);
        // The session reads lines as UTF-8 with the CR dropped; so do the parsers here.
        foreach (string line in Encoding.UTF8.GetString(input).Split('\n'))
            CheckCommandLine(line.TrimEnd('\r'));
        CheckDataReader(input);
    }

    void RunSession(byte[] input)
    {
        var bus = new Bus();
        var ctx = new SmtpContext
        {
            Ruleset = _ruleset,
            Recipients = _recipients,
            Queue = new Enqueuer(new RamQueue(), bus),
            Bus = bus,
            Log = _log,
            Tables = _tables,
            Authenticator = new Authenticator(_tables),
            LocalAddresses = new HashSet<IPAddress>(),
        };
        var connection = new FuzzConnection(input);
        // RunAsync handles the client's misbehaviour itself: whatever escapes it is a finding.
        new SmtpSession(ctx, _setup, connection, Client, CancellationToken.None).RunAsync().GetAwaiter().GetResult();
        CheckReplies(connection.Written);
    }

    /// <summary>Every reply line is "DDD SP text" or "DDD-text" and ends with CRLF (RFC 5321 4.2): client text never breaks a line.</summary>
    static void CheckReplies(byte[] written)
    {
        string text = Encoding.UTF8.GetString(written);
        if (text.Length > 0 && !text.EndsWith("\r\n", StringComparison.Ordinal))
            throw new BrokenInvariantException("the last reply does not end with CRLF");
        foreach (string line in text.Split("\r\n")[..^1])
        {
            bool ok = line.Length >= 3 && line.Take(3).All(char.IsAsciiDigit) && (line.Length == 3 || line[3] is ' ' or '-')
                && !line.Contains('\r') && !line.Contains('\n');
            if (!ok) throw new BrokenInvariantException($"malformed reply line: {Escape(line)}");
        }
    }

    static void CheckCommandLine(string line)
    {
        int space = line.IndexOf(' ');
        string verb = (space < 0 ? line : line[..space]).ToUpperInvariant();
        string args = space < 0 ? "" : line[(space + 1)..].Trim();
        switch (verb)
        {
            case "HELO" or "EHLO":
                MailAddress.IsValidDomain(args.Split(' ', 2)[0]);
                break;
            case "MAIL" when args.StartsWith("FROM:", StringComparison.OrdinalIgnoreCase):
                CheckPath(args[5..], isSender: true);
                break;
            case "RCPT" when args.StartsWith("TO:", StringComparison.OrdinalIgnoreCase):
                CheckPath(args[3..], isSender: false);
                break;
            case "AUTH":
                string[] words = args.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
                if (words.Length > 1) CheckSasl(words[1].Trim());
                break;
        }
        // An AUTH continuation line is bare base64, and so is anything else here.
        CheckSasl(line);
        MailAddress.TryParse(line, allowNoDomain: true, out _);
        MailAddress.TryParse(args, allowNoDomain: false, out _);
    }

    static void CheckPath(string args, bool isSender)
    {
        if (!MailPath.TryParse(args, isSender, out var path)) return;
        var address = path.Address;
        if (!address.IsNull)
        {
            // The envelope stores the address as text; the bounce and the MTA parse it back
            // (a sender as a full address: BounceProcess refuses to report to anything else).
            if (!MailAddress.TryParse(address.ToString(), allowNoDomain: !isSender || address.Domain.Length == 0, out var again) || again != address)
                throw new BrokenInvariantException($"accepted address <{Escape(address.ToString())}> does not parse back to itself");
        }
        foreach (var (key, value) in path.Parameters)
        {
            switch (key.ToUpperInvariant())
            {
                case "NOTIFY":
                    if (Dsn.TryParseNotify(value, out var notify)
                        && ((byte)notify > 0x0f || notify.HasFlag(DsnNotify.Never) && notify != DsnNotify.Never))
                        throw new BrokenInvariantException($"NOTIFY={Escape(value ?? "")} accepted as {notify}");
                    break;
                case "ORCPT":
                    if (Dsn.IsValidOrcpt(value)) Dsn.DecodeXtext(value!);
                    break;
                case "ENVID":
                    if (value is not null && Dsn.IsXtext(value)) Dsn.DecodeXtext(value);
                    break;
            }
        }
    }

    static void CheckSasl(string response)
    {
        if (SaslPlain.TryDecode(response, out string user, out _) && user.Length == 0)
            throw new BrokenInvariantException("AUTH PLAIN accepted an empty user");
        SaslPlain.TryBase64(response, out _);
    }

    /// <summary>
    /// The DATA decoder gives the same result however the input is cut up (a pipe hands out any
    /// segments), and stores only CRLF line ends. Small limits, so that the fuzzer reaches them.
    /// </summary>
    static void CheckDataReader(byte[] input)
    {
        const long maxSize = 4096;
        const int maxLine = 200, maxHeader = 1024;
        var whole = new DataReader(maxSize, maxLine, maxHeader);
        var wholeOut = new ArrayBufferWriter<byte>();
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(input));
        var wholeStatus = whole.Process(ref reader, wholeOut);

        // Fed as a session feeds it: what arrived so far, from where the last call stopped.
        var pieces = new DataReader(maxSize, maxLine, maxHeader);
        var piecesOut = new ArrayBufferWriter<byte>();
        var all = ChunkSegment.Split(input, maxChunk: 13);
        var status = DataReader.Status.NeedMore;
        long consumed = 0;
        long end = 0;
        foreach (var memory in all)
        {
            end += memory.Length;
            var partial = new SequenceReader<byte>(all.Slice(consumed, end - consumed));
            status = pieces.Process(ref partial, piecesOut);
            consumed += partial.Consumed;
            if (status != DataReader.Status.NeedMore) break;
        }
        if (input.Length == 0) status = wholeStatus; // nothing was fed

        if (status != wholeStatus || pieces.Size != whole.Size || pieces.Hops != whole.Hops
            || pieces.TooBig != whole.TooBig || pieces.HeaderTooBig != whole.HeaderTooBig
            || !piecesOut.WrittenSpan.SequenceEqual(wholeOut.WrittenSpan))
            throw new BrokenInvariantException($"DATA decoded differently in pieces: {wholeStatus}/{status}, size {whole.Size}/{pieces.Size}");
        var decoded = wholeOut.WrittenSpan;
        for (int i = 0; i < decoded.Length; i++)
            if (decoded[i] == '\n' && (i == 0 || decoded[i - 1] != '\r'))
                throw new BrokenInvariantException($"bare LF stored at offset {i}");
        if (!whole.TooBig && !whole.HeaderTooBig && decoded.Length != whole.Size)
            throw new BrokenInvariantException($"stored {decoded.Length} octets but counted {whole.Size}");
    }

    static string Escape(string s) => s.Length > 200 ? Escape(s[..200]) + "..." : string.Concat(s.Select(c => c < 0x20 || c == 0x7f ? $"\\x{(int)c:x2}" : c.ToString()));

    public void Dispose() => _log.Dispose();
}
