using System.Buffers;
using System.Globalization;
using System.Text;
using System.IO.Pipelines;
using System.Net;
using Smtpd.Queue;

namespace Smtpd.Smtp;

public sealed partial class SmtpSession
{
    /// <summary>The message goes to disk in writes of about this size (the file itself is unbuffered).</summary>
    const int WriteChunk = 32 * 1024;
    /// <summary>How long DATA waits for a message-file slot; well within a client's 2 min DATA timeout (RFC 5321 4.5.3.2.5).</summary>
    static readonly TimeSpan MessageFileWait = TimeSpan.FromSeconds(60);

    /// <summary>
    /// DATA: creates the message in the queue, streams it to disk, and answers 250 only after the
    /// message and its envelopes are committed (fsync'd). Any failure leaves nothing behind.
    /// </summary>
    async Task<Reply?> DataAsync(string args)
    {
        if (args.Length > 0) return Replies.NoArguments("DATA");
        if (_tx is null) return Replies.NeedMail;
        if (_tx.Recipients.Count == 0) return Replies.NeedRcpt;

        // The message file's descriptor comes from the slots the descriptor reserve keeps free.
        using var slot = await _ctx.Descriptors.TakeMessageFileAsync(MessageFileWait, _shutdown);
        if (slot is null)
        {
            _ctx.Log.Warn($"{Id:x16} smtp queue: no file descriptor for the message within {MessageFileWait.TotalSeconds:0} s ({_ctx.Descriptors.MessageFiles} messages being received)");
            await AbortTransactionAsync();
            _tx = null;
            return Replies.NoDescriptor;
        }

        Stream file;
        try
        {
            _tx.MessageId ??= await _ctx.Queue.CreateAsync(_shutdown); // filtered sessions created it at MAIL
            file = _ctx.Queue.WriteStream(_tx.MessageId.Value);
        }
        catch (IOException ex)
        {
            _ctx.Log.Warn($"{Id:x16} smtp queue: cannot create message: {ex.Message}");
            await AbortTransactionAsync();
            _tx = null; // the transaction is over: the client starts again with MAIL
            return StorageReply(ex);
        }

        uint msgid = _tx.MessageId.Value;
        Send(Replies.StartData);
        await FlushAsync();

        var masquerade = MasqueradeOf(_tx);
        var pipeline = _filters?.OpenData(_shutdown);
        // With data filters the client's lines are masqueraded before the filters get them, so that a
        // DKIM signature covers the From: we store (OpenSMTPD rewrites what the filters give back);
        // the rest of the header editing applies to what the filters give back, as OpenSMTPD's does.
        var headers = new HeaderRewriter(_smtpName, IsSubmissionListener, _ctx.Time.GetLocalNow(),
            pipeline is null && masquerade is not null ? _tx.Sender.ToString() : null);
        var data = new DataReader(_ctx.Ruleset.MaxMessageSize) { Headers = headers };
        DataReader.Status status;
        // Where the decoded message gathers between writes, rented for this message only (one read of
        // the client can add its input pipe's 16 KiB past WriteChunk). Not pooled behind filters:
        // their consumer task can outlive a timeout here.
        using var buffer = new PooledBufferWriter(WriteChunk + 20 * 1024, pooled: pipeline is null);
        Exception? writeError = null;
        string? filterFailure = null;
        bool inputTooBig = false;
        try
        {
            // smtp_message_begin: X-Spam for junk, then Received, both ahead of the client's data.
            string added = (_junkSession || _junkTx ? "X-Spam: Yes\r\n" : "") + ReceivedHeader(msgid);
            if (pipeline is not null)
                (status, writeError, filterFailure, inputTooBig) = await ReceiveFilteredDataAsync(pipeline, added, masquerade, data, buffer, file);
            else
            {
                buffer.Write(Encoding.UTF8.GetBytes(added));
                (status, writeError) = await ReceiveDataAsync(data, buffer, file);
            }
            if (writeError is null && filterFailure is null && status == DataReader.Status.Done)
                writeError = await TryWriteAsync(file, buffer);
        }
        finally
        {
            // Closing flushes what is still buffered: on a full disk that is where the write fails.
            try { await file.DisposeAsync(); }
            catch (IOException ex) { writeError ??= ex; }
        }
        _filters?.Report("protocol-client", ".");

        if (status == DataReader.Status.LineTooLong)
        {
            await AbortTransactionAsync();
            Send(Replies.LineTooLong);
            _ctx.Bus.Stats.Command("DATA", Replies.LineTooLong.Code);
            await FlushAsync();
            _quit = true;
            _closeReason = "line-too-long";
            return null;
        }

        if (filterFailure is not null) _ctx.Log.Warn($"{Id:x16} smtp filter failure: {filterFailure}");
        Reply reply = filterFailure is not null ? Replies.FilterFailure
            : writeError is not null ? StorageReply(writeError)
            : data.TooBig || inputTooBig ? Replies.MessageTooBig
            : data.HeaderTooBig ? Replies.HeaderTooBig
            : data.TooManyHops ? Replies.TooManyHops
            : await CommitFilteredAsync(msgid, data.Size);

        if (!reply.IsPositive)
        {
            if (writeError is not null) _ctx.Log.Warn($"{Id:x16} smtp queue: write failed: {writeError.Message}");
            await AbortTransactionAsync();
        }
        _tx = null;
        return reply;
    }

    /// <summary><c>senders &lt;table&gt; masquerade</c> applies to authenticated sessions with a sender (smtp_session.c).</summary>
    FromMasquerade? MasqueradeOf(Transaction tx) =>
        _setup.Security is { Masquerade: true, SendersTable: not null } && _authUser is not null && !tx.Sender.IsNull
            ? new FromMasquerade(tx.Sender.ToString()) : null;

    /// <summary>
    /// A missing Date: or Message-ID: is added on the local enqueuer's socket, on a listener bound
    /// to 127.0.0.1 or ::1, and on port 587 (OpenSMTPD's listener->local, smtp_tx_dataline).
    /// </summary>
    bool IsSubmissionListener => _listener.IsSocket || _remote is null
        || ListenEndPoint is { } bound && (IPAddress.Loopback.Equals(bound.Address) || IPAddress.IPv6Loopback.Equals(bound.Address) || bound.Port == 587);

    /// <summary>The next data from the client, within the data timeout; after it, 421 and the end of the session.</summary>
    async Task<ReadResult> ReadDataAsync()
    {
        using var timeout = Deadline.After(_ctx.Time, _ctx.DataTimeout, _shutdown);
        try { return await _input.ReadAsync(timeout.Token); }
        catch (OperationCanceledException) when (!_shutdown.IsCancellationRequested)
        {
            _filters?.Report("timeout");
            await TrySendAsync(Replies.Timeout);
            throw new ConnectionClosedException();
        }
    }

    /// <summary>Reads until CRLF.CRLF, writing the decoded message to the file in large chunks.</summary>
    async Task<(DataReader.Status, Exception?)> ReceiveDataAsync(DataReader data, PooledBufferWriter buffer, Stream file)
    {
        Exception? writeError = null;
        while (true)
        {
            var result = await ReadDataAsync();

            var reader = new SequenceReader<byte>(result.Buffer);
            var status = data.Process(ref reader, buffer);
            if (status != DataReader.Status.NeedMore)
            {
                // What follows the final dot (pipelined commands) is not examined yet.
                _input.AdvanceTo(reader.Position);
                return (status, writeError);
            }
            _input.AdvanceTo(reader.Position, result.Buffer.End);
            if (result.IsCompleted) throw new ConnectionClosedException();

            if (buffer.WrittenCount >= WriteChunk && writeError is null)
                writeError = await TryWriteAsync(file, buffer);
            else if (writeError is not null)
                buffer.ResetWrittenCount(); // keep reading to the end so the client gets a reply, but store nothing
        }
    }

    static async Task<Exception?> TryWriteAsync(Stream file, PooledBufferWriter buffer)
    {
        try
        {
            await file.WriteAsync(buffer.WrittenMemory);
            buffer.ResetWrittenCount();
            return null;
        }
        catch (IOException ex) { buffer.ResetWrittenCount(); return ex; }
    }

    /// <summary>Builds the envelopes and has the queue commit them with the message (durable when it returns).</summary>
    /// <param name="quarantine">Why a milter quarantined it: its envelopes are written and held quarantined, until released.</param>
    async Task<Reply> CommitAsync(uint msgid, long size, string? quarantine = null)
    {
        var tx = _tx!;
        var now = _ctx.Time.GetUtcNow();
        var envelopes = tx.Recipients.Select(r => new Envelope
        {
            Id = QueueIds.NewEnvelopeId(msgid),
            Dispatcher = r.Decision.Action.Name,
            Type = r.Decision.Action.IsLocal ? EnvelopeType.Mda : EnvelopeType.Mta,
            Tag = _listener.Tag,
            SmtpName = _smtpName,
            Helo = _helo ?? "",
            Hostname = ClientHost,
            SockAddr = ClientAddress,
            Sender = tx.Sender.ToString(),
            Rcpt = r.Rcpt.ToString(),
            Dest = r.Decision.Dest,
            MdaUser = r.Decision.MdaUser,
            MdaSubaddress = r.Decision.Subaddress,
            MdaMethod = r.Decision.MdaMethod,
            MdaTarget = r.Decision.MdaTarget,
            DsnNotify = r.Notify,
            DsnOrcpt = r.Orcpt,
            DsnRet = tx.Parameters.GetValueOrDefault("RET")?.ToUpperInvariant(),
            DsnEnvid = tx.Parameters.GetValueOrDefault("ENVID"),
            CreationTime = now,
            Ttl = (long)(r.Decision.Action.Ttl ?? _ctx.Ruleset.Expire).TotalSeconds,
            Quarantine = quarantine,
        }).ToList();

        try { await _ctx.Queue.CommitAsync(msgid, envelopes, _shutdown); }
        catch (IOException ex)
        {
            _ctx.Log.Warn($"{Id:x16} smtp queue: commit failed: {ex.Message}");
            return StorageReply(ex);
        }

        tx.MessageId = null; // committed: no longer ours to delete
        if (_filters is not null)
        {
            foreach (var e in envelopes) _filters.Report("tx-envelope", $"{msgid:x8}|{e.Id:x16}");
            _committed = (msgid, size);
        }
        _mailCount++;
        _ctx.Bus.Stats.Increment(Stats.StatKeys.SmtpMessage);
        if (_ctx.Bus.Stats.KeepsLabelledEvents) _ctx.Bus.Stats.MessageReceived(ListenerLabel(_listener, ListenEndPoint), size);
        _ctx.Log.Info($"{Id:x16} smtp message msgid={msgid:x8} size={size} nrcpt={envelopes.Count} proto={(_esmtp ? "ESMTP" : "SMTP")}");
        foreach (var e in envelopes)
            _ctx.Log.Info($"{Id:x16} smtp envelope evpid={e.Id:x16} from=<{e.Sender}> to=<{e.Rcpt}>");
        if (quarantine is not null)
            _ctx.Log.Info($"{Id:x16} smtp message msgid={msgid:x8} quarantined by a milter: held until 'smtpctl release {msgid:x8}' reason=\"{Printable(quarantine)}\"");
        return Replies.Accepted(msgid);
    }

    /// <summary>Drops an uncommitted message and its changeset: a rollback leaves no trace.</summary>
    async Task AbortTransactionAsync()
    {
        if (_tx?.MessageId is not uint msgid) return;
        _tx.MessageId = null;
        ReportRollback(msgid);
        if (_filters is not null) await _filters.AbortMessageAsync();
        try { await _ctx.Queue.RollbackAsync(msgid); }
        catch (IOException ex) { _ctx.Log.Warn($"{Id:x16} smtp queue: cannot remove aborted message {msgid:x8}: {ex.Message}"); }
    }

    /// <summary>A full disk is 452; any other storage trouble 451. Never a 5xx.</summary>
    static Reply StorageReply(Exception ex) =>
        ex.HResult is 28 or 122 /* ENOSPC, EDQUOT */ || ex.Message.Contains("No space", StringComparison.OrdinalIgnoreCase)
            ? Replies.InsufficientStorage : Replies.QueueFailure;

    /// <summary>The Received: header OpenSMTPD prepends (RFC 5321 4.4).</summary>
    string ReceivedHeader(uint msgid)
    {
        var sb = new StringBuilder("Received: ");
        if (!_setup.Security.MaskSource)
        {
            string addr = _remote is null ? "local" : _remote.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                ? $"IPv6:{_remote.Address}" : _remote.Address.ToString();
            sb.Append($"from {_helo} ({ClientHost} [{addr}])");
        }
        // RFC 3848: ESMTPS over TLS, ESMTPA / ESMTPSA once authenticated.
        string with = (_esmtp ? "ESMTP" : "SMTP") + (_tls is not null ? "S" : "") + (_authUser is not null ? "A" : "");
        sb.Append($"\r\n\tby {_smtpName} (smtpd) with {with} id {msgid:x8}");
        if (_tls is not null)
        {
            sb.Append($" ({TlsDescription}:{(ClientVerified ? "YES" : "NO")})");
            if (_setup.Security.ReceivedAuth)
                sb.Append(_authUser is null ? " auth=no" : $" auth=yes user={Printable(_authUser)}");
        }
        if (_tx!.Recipients.Count == 1) sb.Append($"\r\n\tfor <{_tx.Recipients[0].Rcpt}>");
        sb.Append(";\r\n\t").Append(_ctx.Time.GetLocalNow().ToString("ddd, d MMM yyyy HH:mm:ss ", CultureInfo.InvariantCulture));
        var offset = _ctx.Time.GetLocalNow().Offset;
        sb.Append(offset < TimeSpan.Zero ? '-' : '+').Append(Math.Abs(offset.Hours).ToString("00", CultureInfo.InvariantCulture))
          .Append(Math.Abs(offset.Minutes).ToString("00", CultureInfo.InvariantCulture)).Append("\r\n");
        return sb.ToString();
    }
}
