using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Mda;

/// <summary>
/// <c>lmtp host:port</c> and <c>lmtp /path/to/socket</c> (RFC 2033), e.g. to Dovecot: LHLO,
/// MAIL, RCPT (the local user, or the address with <c>rcpt-to</c>), DATA, and the reply for
/// the recipient after the data, the message led by <c>Delivered-To:</c>. 2xx delivered, 4xx
/// retried, 5xx failed.
/// </summary>
public sealed class LmtpDelivery(string destination, bool rcptTo, string hostname) : IMailboxDelivery
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    public async Task<Outcome> DeliverAsync(DeliveryRequest request, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        try
        {
            using var socket = await ConnectAsync(timeout.Token);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var reader = new StreamReader(stream, Encoding.UTF8);
            async Task<string> Reply()
            {
                string line = "";
                for (int i = 0; i < 100; i++)
                {
                    line = await reader.ReadLineAsync(timeout.Token) ?? throw new IOException("connection closed by the LMTP server");
                    if (line.Length < 4 || line[3] != '-') return line;
                }
                throw new IOException("LMTP reply too long");
            }
            async Task<string> Command(string c)
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(c + "\r\n"), timeout.Token);
                return await Reply();
            }
            static Outcome Fail(string reply) => reply.StartsWith('5') ? Outcome.PermFail(reply) : Outcome.TempFail(reply);

            string banner = await Reply();
            if (!banner.StartsWith('2')) return Fail(banner);
            string r = await Command($"LHLO {hostname}");
            if (!r.StartsWith('2')) return Fail(r);
            r = await Command($"MAIL FROM:<{request.Sender}>");
            if (!r.StartsWith('2')) return Fail(r);
            r = await Command($"RCPT TO:<{(rcptTo ? request.Dest : request.User.Name)}>");
            if (!r.StartsWith('2')) { await Command("QUIT"); return Fail(r); }
            r = await Command("DATA");
            if (!r.StartsWith('3')) return Fail(r);
            // Delivered-To: as maildir and mbox get it (OpenSMTPD's mda writes it for lmtp too), so that a
            // loop through this mailbox is seen. No Return-Path: the LMTP server, delivering, adds its own
            // from MAIL FROM (RFC 5321 4.4), and Dovecot's would stand beside a second one.
            await stream.WriteAsync(Encoding.UTF8.GetBytes($"Delivered-To: {request.Recipient}\r\n"), timeout.Token);
            await using (var source = request.OpenMessage())
                await Mta.DotStuffing.CopyAsync(source, stream, timeout.Token);
            string final = await Reply(); // one reply per accepted recipient: one here
            try { await Command("QUIT"); } catch (IOException) { }
            return final.StartsWith('2') ? Outcome.Ok(final) : Fail(final);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Outcome.TempFail($"lmtp {destination}: timeout");
        }
        catch (SocketException ex)
        {
            return Outcome.TempFail($"lmtp {destination}: {SystemErrors.Describe(ex)}");
        }
    }

    async Task<Socket> ConnectAsync(CancellationToken ct)
    {
        if (destination.StartsWith('/'))
        {
            var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await unix.ConnectAsync(new UnixDomainSocketEndPoint(destination), ct);
            return unix;
        }
        int colon = destination.LastIndexOf(':');
        string host = colon > 0 ? destination[..colon].Trim('[', ']') : destination;
        int port = colon > 0 && int.TryParse(destination[(colon + 1)..], out int p) ? p : 24;
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        var tcp = new Socket(addresses[0].AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await tcp.ConnectAsync(addresses[0], port, ct);
        return tcp;
    }
}
