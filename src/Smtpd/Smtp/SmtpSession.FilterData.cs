using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Threading.Channels;
using Smtpd.Filter;

namespace Smtpd.Smtp;

// DATA on a filtered session: the message goes through the data-line filters (smtp_tx_filtered_dataline)
// and what comes back is what we store; then the commit phase decides before the queue commit.
public sealed partial class SmtpSession
{
    /// <summary>The commit phase, then the queue commit (without filters: the queue commit alone).</summary>
    async Task<Reply> CommitFilteredAsync(uint msgid, long size)
    {
        if (_filters is null) return await CommitAsync(msgid, size);
        var verdict = await _filters.QueryAsync(FilterPhase.Commit, "", _shutdown);
        ReportFilterResponse(FilterPhase.Commit, verdict);
        switch (verdict)
        {
            case FilterVerdict.Failed f:
                _ctx.Log.Warn($"{Id:x16} smtp filter failure: {f.Reason}");
                return Replies.FilterFailure;
            case FilterVerdict.Reject or FilterVerdict.Disconnect:
                return RefusalOf(verdict);
            case FilterVerdict.Discard:
                // The client is told it was accepted; the caller does not roll back a positive reply.
                _ctx.Log.Info($"{Id:x16} smtp message msgid={msgid:x8} discarded by a milter");
                await AbortTransactionAsync();
                return Replies.Accepted(msgid);
            default:
                var changes = _filters.MilterChanges();
                return await ApplyMilterChangesAsync(changes) ?? await CommitAsync(msgid, size, changes.Quarantine);
        }
    }

    /// <summary>
    /// Sends our headers and the client's lines (dot-stuffed, as received) into the pipeline, and
    /// stores what comes out of it. A filter that fails or does not give the message back in
    /// time leaves nothing stored: the caller answers 451.
    /// </summary>
    async Task<(DataReader.Status Status, Exception? WriteError, string? Failure, bool InputTooBig)> ReceiveFilteredDataAsync(
        DataPipeline pipeline, string added, FromMasquerade? masquerade, DataReader data, PooledBufferWriter buffer, Stream file)
    {
        var consumer = ConsumeFilteredAsync(pipeline.Output, data, buffer, file);
        foreach (var header in added.Split("\r\n", StringSplitOptions.RemoveEmptyEntries))
            pipeline.Input.TryWrite(Encoding.UTF8.GetBytes(header));
        DataReader.Status status;
        bool tooBig;
        try { (status, tooBig) = await ForwardClientDataAsync(pipeline.Input, masquerade); }
        finally
        {
            pipeline.Input.TryWrite([(byte)'.']);
            pipeline.Input.TryComplete();
        }
        (bool done, string? failure, Exception? writeError) result;
        try { result = await consumer.WaitAsync(_ctx.Filters!.DataTimeout + TimeSpan.FromSeconds(5)); }
        catch (TimeoutException) { result = (false, "the filters did not give the message back in time", null); }
        if (status == DataReader.Status.LineTooLong) return (status, result.writeError, null, tooBig);
        return (result.done ? DataReader.Status.Done : DataReader.Status.NeedMore, result.writeError, result.done ? null : result.failure, tooBig);
    }

    /// <summary>The client's data lines, as filters get them: without CRLF, still dot-stuffed.</summary>
    async Task<(DataReader.Status, bool TooBig)> ForwardClientDataAsync(ChannelWriter<byte[]> input, FromMasquerade? masquerade)
    {
        bool lineStart = true, tooBig = false;
        long size = 0;
        while (true)
        {
            var result = await ReadDataAsync();
            var reader = new SequenceReader<byte>(result.Buffer);
            while (reader.TryReadTo(out ReadOnlySequence<byte> raw, (byte)'\n'))
            {
                if (raw.Length > DataReader.DefaultMaxLine)
                {
                    _input.AdvanceTo(reader.Position);
                    return (DataReader.Status.LineTooLong, tooBig);
                }
                byte[] line = raw.ToArray();
                bool crlf = line.Length > 0 && line[^1] == '\r';
                if (crlf) line = line[..^1];
                // Only CRLF "." CRLF ends the data (a bare LF never starts a line: see DataReader).
                if (lineStart && crlf && line is [(byte)'.'])
                {
                    if (masquerade is { InHeaders: true } && !tooBig && _filters!.Broken is null)
                        foreach (var held in masquerade.End()) input.TryWrite(held);
                    _input.AdvanceTo(reader.Position);
                    return (DataReader.Status.Done, tooBig);
                }
                size += line.Length + 2;
                if (size > _ctx.Ruleset.MaxMessageSize) tooBig = true;
                else if (_filters!.Broken is null)
                {
                    // After a bare LF a leading dot is content, not stuffing: stuff it so that it survives.
                    if (!lineStart && line.Length > 0 && line[0] == '.') line = [(byte)'.', .. line];
                    if (masquerade is { InHeaders: true })
                        foreach (var l in masquerade.Push(line)) input.TryWrite(l);
                    else input.TryWrite(line);
                }
                lineStart = crlf;
            }
            if (reader.Remaining > DataReader.DefaultMaxLine)
            {
                _input.AdvanceTo(reader.Position);
                return (DataReader.Status.LineTooLong, tooBig);
            }
            _input.AdvanceTo(reader.Position, result.Buffer.End);
            if (result.IsCompleted) throw new ConnectionClosedException();
        }
    }

    /// <summary>The last filter's lines, un-stuffed and checked by the DataReader, written in large chunks.</summary>
    static async Task<(bool Done, string? Failure, Exception? WriteError)> ConsumeFilteredAsync(
        ChannelReader<byte[]> output, DataReader data, PooledBufferWriter buffer, Stream file)
    {
        Exception? writeError = null;
        try
        {
            await foreach (var line in output.ReadAllAsync())
            {
                var bytes = new byte[line.Length + 2];
                line.CopyTo(bytes, 0);
                bytes[^2] = (byte)'\r';
                bytes[^1] = (byte)'\n';
                var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
                switch (data.Process(ref reader, buffer))
                {
                    case DataReader.Status.Done: return (true, null, writeError);
                    case DataReader.Status.LineTooLong: return (false, "a filter gave back a line too long", writeError);
                }
                if (buffer.WrittenCount >= WriteChunk && writeError is null) writeError = await TryWriteAsync(file, buffer);
                else if (writeError is not null) buffer.ResetWrittenCount();
            }
            return (false, "a filter ended the message without its final dot", writeError);
        }
        catch (FilterException ex) { return (false, ex.Message, writeError); }
        catch (ChannelClosedException ex) { return (false, ex.InnerException?.Message ?? "a filter is gone", writeError); }
        catch (ObjectDisposedException) { return (false, "the client left during DATA", writeError); } // the file is closed: nothing to keep
    }
}
