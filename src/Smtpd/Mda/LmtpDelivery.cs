using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Mda;

/// <summary>
/// <c>lmtp host:port</c> and <c>lmtp /path/to/socket</c> (RFC 2033), e.g. to Dovecot: LHLO,
/// MAIL, RCPT (the local user, or the address with <c>rcpt-to</c>), DATA, and the reply for
/// the recipient after the data, the message led by <c>Return-Path:</c> and <c>Delivered-To:</c>
/// as OpenSMTPD's mail.lmtp sends it. 2xx delivered, 4xx retried, 5xx failed.
/// </summary>
public sealed class LmtpDelivery(string destination, bool rcptTo) : IMailboxDelivery
{
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    public async Task<Outcome> DeliverAsync(DeliveryRequest request, CancellationToken ct)
    {
        // In a delivery process: the system's clock, the only one there.
        using var timeout = Deadline.After(TimeProvider.System, Timeout, ct);
        try
        {
            using var socket = await ConnectAsync(timeout.Token);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var input = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
            var replies = new Mta.SmtpReplyReader(input);
            try
            {
                // The last line of the reply decides; one that is no reply is given back as it came,
                // and fails the delivery (temporarily unless it starts with 5).
                async Task<string> Reply()
                {
                    try { return (await replies.ReadAsync(timeout.Token)).Lines[^1]; }
                    catch (Mta.SmtpReplyException ex) when (ex.Problem == Mta.SmtpReplyProblem.Invalid) { return ex.Line; }
                    catch (Mta.SmtpReplyException ex)
                    {
                        throw new IOException(ex.Problem switch
                        {
                            Mta.SmtpReplyProblem.Closed => "connection closed by the LMTP server",
                            Mta.SmtpReplyProblem.LineTooLong => "LMTP reply line too long",
                            _ => "LMTP reply too long",
                        });
                    }
                }
                async Task<string> Command(string c)
                {
                    await stream.WriteAsync(Encoding.UTF8.GetBytes(c + "\r\n"), timeout.Token);
                    return await Reply();
                }
                static Outcome Fail(string reply) => reply.StartsWith('5') ? Outcome.PermFail(reply) : Outcome.TempFail(reply);

                string banner = await Reply();
                if (!banner.StartsWith('2')) return Fail(banner);
                // OpenSMTPD's mail.lmtp greets as localhost: the LMTP server is on this host.
                string r = await Command("LHLO localhost");
                if (!r.StartsWith('2')) return Fail(r);
                r = await Command($"MAIL FROM:<{request.Sender}>");
                if (!r.StartsWith('2')) return Fail(r);
                r = await Command($"RCPT TO:<{(rcptTo ? request.Dest : request.User.Name)}>");
                if (!r.StartsWith('2')) { await Command("QUIT"); return Fail(r); }
                r = await Command("DATA");
                if (!r.StartsWith('3')) return Fail(r);
                // The delivery headers OpenSMTPD's mda leads every local delivery with, lmtp included:
                // Return-Path: (unless the sender is empty) then Delivered-To:, which shows a loop
                // through this mailbox. The LMTP server, delivering, may add its own Return-Path.
                await stream.WriteAsync(Encoding.UTF8.GetBytes(
                    (request.Sender.Length > 0 ? $"Return-Path: <{request.Sender}>\r\n" : "") + $"Delivered-To: {request.Recipient}\r\n"), timeout.Token);
                await using (var source = request.OpenMessage())
                    await Mta.DotStuffing.CopyAsync(source, stream, timeout.Token);
                string final = await Reply(); // one reply per accepted recipient: one here
                try { await Command("QUIT"); } catch (IOException) { }
                // OpenSMTPD logs stat=Delivered: its mail.lmtp exits 0, the reply stays with it.
                return final.StartsWith('2') ? Outcome.Ok("Delivered") : Fail(final);
            }
            finally { await input.CompleteAsync(); }
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
