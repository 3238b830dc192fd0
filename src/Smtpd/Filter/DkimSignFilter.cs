using System.Text;
using System.Threading.Channels;
using MimeKit;
using MimeKit.Cryptography;
using Smtpd.Config;

namespace Smtpd.Filter;

/// <summary>
/// <c>filter NAME dkim-sign domain D selector S key "path"</c>: a data-line stage that reads the
/// whole message, signs it with MimeKit's <see cref="DkimSigner"/> (relaxed/relaxed) and passes it
/// on with the DKIM-Signature header in front, the message itself unchanged.
/// </summary>
public sealed class DkimSignFilter
{
    readonly FilterSpec.DkimSign _spec;
    readonly DkimSigner _signer;

    /// <param name="files">Where the key is read from; null: the disk.</param>
    /// <exception cref="FilterException">The key cannot be read.</exception>
    public DkimSignFilter(string name, FilterSpec.DkimSign spec, ConfigFiles? files = null)
    {
        Name = name;
        _spec = spec;
        files ??= ConfigFiles.Disk;
        var algorithm = spec.Algorithm == "ed25519-sha256" ? DkimSignatureAlgorithm.Ed25519Sha256 : DkimSignatureAlgorithm.RsaSha256;
        if (!files.Exists(spec.KeyFile)) throw new FilterException($"filter {name}: DKIM key {spec.KeyFile} does not exist");
        try
        {
            using var key = new MemoryStream(Encoding.UTF8.GetBytes(files.ReadText(spec.KeyFile)));
            _signer = new DkimSigner(key, spec.Domain, spec.Selector, algorithm)
            {
                HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
                BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentException or NotSupportedException
            or Org.BouncyCastle.Security.SecurityUtilityException or InvalidCastException)
        {
            throw new FilterException($"filter {name}: cannot use DKIM key {spec.KeyFile}: {ex.Message}");
        }
    }

    public string Name { get; }

    /// <summary>Reads dot-stuffed lines up to ".", writes the signature's lines then the same lines and ".".</summary>
    public async Task RunAsync(ChannelReader<byte[]> input, ChannelWriter<byte[]> output)
    {
        var lines = new List<byte[]>();
        var message = new MemoryStream();
        try
        {
            await foreach (var line in input.ReadAllAsync())
            {
                if (line is [(byte)'.']) break;
                lines.Add(line);
                // Un-stuff for signing: the stored message is what gets verified.
                int skip = line.Length > 0 && line[0] == '.' ? 1 : 0;
                message.Write(line, skip, line.Length - skip);
                message.Write("\r\n"u8);
            }
            foreach (var header in await Task.Run(() => Sign(message)))
                output.TryWrite(header);
            foreach (var line in lines) output.TryWrite(line);
            output.TryWrite([(byte)'.']);
            output.TryComplete();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            output.TryComplete(ex is FilterException ? ex : new FilterException($"filter {Name}: {ex.Message}"));
        }
    }

    /// <summary>The DKIM-Signature header, as lines.</summary>
    IEnumerable<byte[]> Sign(MemoryStream raw)
    {
        raw.Position = 0;
        var parsed = MimeMessage.Load(raw);
        var headers = _spec.Headers.Where(h => parsed.Headers.Contains(h)).ToArray();
        _signer.Sign(parsed, headers);
        var signature = parsed.Headers.First(h => h.Id == HeaderId.DkimSignature);
        string text = "DKIM-Signature:" + Encoding.ASCII.GetString(signature.RawValue);
        return text.TrimEnd('\r', '\n').Split('\n').Select(l => Encoding.ASCII.GetBytes(l.TrimEnd('\r')));
    }
}
