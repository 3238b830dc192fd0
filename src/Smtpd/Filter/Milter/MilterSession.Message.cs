using System.Threading.Channels;

namespace Smtpd.Filter.Milter;

// The message through the milter: header fields, end of headers, the body in chunks as it
// arrives, end of message and the modifications it answers with, applied to what we give on.
public sealed partial class MilterSession
{
    /// <summary>Called as DATA opens the pipeline, before the message flows: the commit stage waits for this message's end.</summary>
    internal void BeginMessage() => _endOfMessage = new TaskCompletionSource<FilterVerdict>(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// The data-line stage: reads dot-stuffed lines up to "." from <paramref name="input"/>, talks
    /// to the milter, and writes the message (as the milter changed it) to <paramref name="output"/>.
    /// The body waits on disk, not in memory. Whatever happens, the whole input is read, the
    /// decision is set before the final "." goes out, and the output is completed.
    /// </summary>
    internal async Task StreamThroughAsync(ChannelReader<byte[]> input, ChannelWriter<byte[]> output, CancellationToken ct)
    {
        var decision = _endOfMessage ??= new TaskCompletionSource<FilterVerdict>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _lock.WaitAsync(CancellationToken.None);
        try
        {
            using var body = new MessageSpool();
            var run = new MessageRun(this, body);
            try
            {
                await foreach (var stuffed in input.ReadAllAsync(ct))
                {
                    if (stuffed is [(byte)'.']) break;
                    await run.LineAsync(stuffed.Length > 0 && stuffed[0] == '.' ? stuffed[1..] : stuffed, ct);
                }
                await run.EndAsync(ct);
            }
            catch (Exception ex) when (ex is ChannelClosedException or FilterException)
            {
                // A filter before this one failed: so does the message, at once, for what comes after.
                string reason = ex is FilterException ? ex.Message : "the message did not reach the milter whole";
                decision.TrySetResult(new FilterVerdict.Failed(reason));
                output.TryComplete(new FilterException(reason));
                return;
            }
            var verdict = run.Verdict ?? FilterVerdict.Proceeding;
            if (verdict is FilterVerdict.Proceed && !_discarded)
                await run.WriteAsync(output);
            decision.TrySetResult(verdict);
            output.TryWrite([(byte)'.']);
            output.TryComplete();
        }
        catch (OperationCanceledException)
        {
            decision.TrySetResult(new FilterVerdict.Failed("the session ended"));
            output.TryComplete();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The spool could not be written: nothing can be given on, the client will try again.
            decision.TrySetResult(new FilterVerdict.Failed($"milter {_name}: spool: {ex.Message}"));
            output.TryComplete(new FilterException($"milter {_name}: spool: {ex.Message}"));
        }
        // A message whose end the milter did not get stays open (_inMessage): the transaction's end aborts it.
        finally { _lock.Release(); }
    }

    /// <summary>One message on its way: where it is (headers or body), what is pending for the milter, what it decided.</summary>
    sealed class MessageRun(MilterSession milter, MessageSpool body)
    {
        static readonly byte[] Crlf = "\r\n"u8.ToArray();
        readonly MessageHeaders _headers = new();
        readonly MemoryStream _chunk = new();
        bool _inHeaders = true;
        bool _separator;
        bool _skipBody;
        MessageSpool? _replacement;

        /// <summary>Set once decided (a refusal, a failure); null while the message is still going through.</summary>
        public FilterVerdict? Verdict { get; set; }

        /// <summary>
        /// Our own first field (the Received: the session prepends) is not shown to the milter, as
        /// Postfix's milter8 hides its own; change requests count without it, insert positions with it.
        /// </summary>
        int Hidden => _headers.Fields.Count > 0 && _headers.Fields[0].Name.Equals("Received", StringComparison.OrdinalIgnoreCase) ? 1 : 0;

        /// <summary>The milter still gets this message.</summary>
        bool Live => Verdict is null && milter.Active && !milter._skipMessage;

        public async Task LineAsync(byte[] line, CancellationToken ct)
        {
            if (_inHeaders)
            {
                string text = MilterPacket.Text.GetString(line);
                if (line.Length == 0) { _separator = true; await EndHeadersAsync(ct); return; }
                if (_headers.TryAdd(text)) return;
                // A line that is not a header field starts the body (RFC 5322 2.1 wants a blank line; not every client sends it).
                await EndHeadersAsync(ct);
            }
            await body.WriteAsync(line, ct);
            await body.WriteAsync(Crlf, ct);
            if (!Live || _skipBody || milter._options.Has(MilterSteps.NoBody)) return;
            _chunk.Write(line);
            _chunk.Write("\r\n"u8);
            while (_chunk.Length >= MilterProtocol.BodyChunk) await SendChunkAsync(MilterProtocol.BodyChunk, ct);
        }

        /// <summary>Every header field, then SMFIC_EOH.</summary>
        async Task EndHeadersAsync(CancellationToken ct)
        {
            _inHeaders = false;
            if (!Live) return;
            await Guarded(async () =>
            {
                bool leading = milter._options.Has(MilterSteps.HeaderLeadingSpace);
                if (!milter._options.Has(MilterSteps.NoHeaders))
                    foreach (var field in _headers.Fields.Skip(Hidden))
                    {
                        await milter.SendAsync(MilterMacros.Packet(MacroStage.EndOfHeaders, milter._options, milter.Macro, MilterCommand.Header), ct);
                        await milter.SendAsync(MilterPacket.Strings(MilterCommand.Header, field.Name, field.Value(leading)), ct);
                        if (!milter._options.Has(MilterSteps.NoReplyHeader) && !Decided(await milter.ReceiveAsync(milter._spec.CommandTimeout, ct))) return;
                    }
                if (!Live) return;
                await Stage(MacroStage.EndOfHeaders, MilterSteps.NoEndOfHeaders, MilterSteps.NoReplyEndOfHeaders, new MilterPacket(MilterCommand.EndOfHeaders, Array.Empty<byte>()), ct);
            });
        }

        /// <summary>A stage of the message with its macros (end of headers); false once decided.</summary>
        async Task Stage(MacroStage stage, MilterSteps skip, MilterSteps noReply, MilterPacket command, CancellationToken ct)
        {
            var verdict = await milter.CommandAsync(stage, skip, noReply, command, true, ct);
            if (verdict is not FilterVerdict.Proceed) Verdict = verdict;
        }

        /// <summary>An answer to a header or body chunk: true to go on.</summary>
        bool Decided(MilterPacket reply)
        {
            if (reply.Code == MilterReply.Skip) { _skipBody = true; return true; }
            var verdict = milter.Decide(reply, true);
            if (verdict is not FilterVerdict.Proceed) Verdict = verdict;
            return Live;
        }

        async Task SendChunkAsync(int size, CancellationToken ct)
        {
            var bytes = _chunk.GetBuffer().AsMemory(0, (int)Math.Min(size, _chunk.Length)).ToArray();
            var rest = _chunk.GetBuffer().AsSpan(bytes.Length, (int)_chunk.Length - bytes.Length).ToArray();
            _chunk.SetLength(0);
            _chunk.Write(rest);
            await Guarded(async () =>
            {
                await milter.SendAsync(MilterMacros.Packet(MacroStage.EndOfMessage, milter._options, milter.Macro, MilterCommand.Body), ct);
                await milter.SendAsync(new MilterPacket(MilterCommand.Body, bytes), ct);
                if (!milter._options.Has(MilterSteps.NoReplyBody)) Decided(await milter.ReceiveAsync(milter._spec.CommandTimeout, ct));
            });
        }

        /// <summary>The rest of the body, end of message, and the milter's modifications up to its decision.</summary>
        public async Task EndAsync(CancellationToken ct)
        {
            if (_inHeaders) await EndHeadersAsync(ct);
            while (Live && !_skipBody && _chunk.Length > 0 && !milter._options.Has(MilterSteps.NoBody))
                await SendChunkAsync(MilterProtocol.BodyChunk, ct);
            if (!Live) return;
            await Guarded(async () =>
            {
                await milter.SendAsync(MilterMacros.Packet(MacroStage.EndOfMessage, milter._options, milter.Macro), ct);
                await milter.SendAsync(new MilterPacket(MilterCommand.EndOfBody, Array.Empty<byte>()), ct);
                milter._inMessage = false;
                while (true)
                {
                    var reply = await milter.ReceiveAsync(milter._spec.EomTimeout, ct);
                    if (await ModifyAsync(reply, ct)) continue;
                    var verdict = milter.Decide(reply, true);
                    if (verdict is not FilterVerdict.Proceed) Verdict = verdict;
                    break;
                }
                // Postfix resets the milter for the next message this way.
                await milter.SendAsync(new MilterPacket(MilterCommand.Abort, Array.Empty<byte>()), ct);
            });
        }

        /// <summary>A failure of the milter: its on-failure action decides (accept: the message goes on unchanged).</summary>
        async Task Guarded(Func<Task> step)
        {
            try { await step(); }
            catch (Exception ex) when (IsFailure(ex))
            {
                var verdict = await milter.FailAsync(ex.Message);
                _replacement?.Dispose();
                _replacement = null;
                _headersChanged = null;
                if (verdict is not FilterVerdict.Proceed) Verdict = verdict;
            }
        }

        /// <summary>Headers as changed so far; null while unchanged (a failure after a change gives the original on).</summary>
        MessageHeaders? _headersChanged;

        /// <summary>A modification at end of message; false if the packet is not one (it is the decision).</summary>
        /// <exception cref="MilterProtocolException">Malformed, or one the milter did not negotiate.</exception>
        async Task<bool> ModifyAsync(MilterPacket reply, CancellationToken ct)
        {
            var o = milter._options;
            bool leading = o.Has(MilterSteps.HeaderLeadingSpace);
            void Require(MilterActions action)
            {
                if (!o.May(action)) throw new MilterProtocolException($"asked for '{(char)reply.Code}' without negotiating it");
            }
            switch (reply.Code)
            {
                case MilterReply.AddHeader:
                    Require(MilterActions.AddHeaders);
                    var add = Pair(reply.ReadStrings());
                    Edited().Add(add.Name, add.Value, leading);
                    return true;
                case MilterReply.InsertHeader:
                    Require(MilterActions.AddHeaders);
                    var insert = Pair(reply.ReadStrings(4));
                    Edited().Insert(reply.ReadUInt32(0), insert.Name, insert.Value, leading);
                    return true;
                case MilterReply.ChangeHeader:
                    Require(MilterActions.ChangeHeaders);
                    var change = Pair(reply.ReadStrings(4));
                    Edited().Change(reply.ReadUInt32(0), change.Name, change.Value, leading, Hidden);
                    return true;
                case MilterReply.ReplaceBody:
                    Require(MilterActions.ChangeBody);
                    _replacement ??= new MessageSpool();
                    await _replacement.WriteAsync(reply.Data, ct);
                    return true;
                case MilterReply.ChangeFrom:
                    Require(MilterActions.ChangeFrom);
                    var from = reply.ReadStrings();
                    if (from.Count == 0) throw new MilterProtocolException("change of sender without an address");
                    milter.Changes.Sender = (MilterEnvelopeChanges.Unbracketed(from[0]), from.Skip(1).ToList());
                    return true;
                case MilterReply.AddRcpt:
                case MilterReply.AddRcptWithArgs:
                    Require(reply.Code == MilterReply.AddRcpt ? MilterActions.AddRcpt : MilterActions.AddRcptWithArgs);
                    var rcpt = reply.ReadStrings();
                    if (rcpt.Count == 0) throw new MilterProtocolException("added recipient without an address");
                    milter.Changes.AddedRecipients.Add((MilterEnvelopeChanges.Unbracketed(rcpt[0]), rcpt.Skip(1).ToList()));
                    return true;
                case MilterReply.DeleteRcpt:
                    Require(MilterActions.DeleteRcpt);
                    var deleted = reply.ReadStrings();
                    if (deleted.Count == 0) throw new MilterProtocolException("deleted recipient without an address");
                    milter.Changes.DeletedRecipients.Add(MilterEnvelopeChanges.Unbracketed(deleted[0]));
                    return true;
                case MilterReply.Quarantine:
                    Require(MilterActions.Quarantine);
                    var reason = reply.ReadStrings();
                    milter.Changes.Quarantine = reason.Count > 0 && reason[0].Length > 0 ? reason[0] : "quarantined";
                    return true;
                default:
                    return false;
            }
        }

        static (string Name, string Value) Pair(IReadOnlyList<string> strings) => strings.Count >= 2 && strings[0].Length > 0
            ? (strings[0], strings[1])
            : throw new MilterProtocolException("header change without its name and value");

        MessageHeaders Edited()
        {
            if (_headersChanged is null)
            {
                _headersChanged = new MessageHeaders();
                foreach (var line in _headers.Lines) _headersChanged.TryAdd(line);
            }
            return _headersChanged;
        }

        /// <summary>The message as it goes on: the (edited) header section, the blank line, the (replaced) body, dot-stuffed.</summary>
        public async Task WriteAsync(ChannelWriter<byte[]> output)
        {
            foreach (var line in (_headersChanged ?? _headers).Lines)
                output.TryWrite(Stuffed(MilterPacket.Text.GetBytes(line)));
            var content = _replacement ?? body;
            if (_separator || content.Length > 0) output.TryWrite([]);
            await foreach (var line in content.ReadLinesAsync())
                output.TryWrite(Stuffed(line));
            _replacement?.Dispose();
        }

        static byte[] Stuffed(byte[] line) => line.Length > 0 && line[0] == '.' ? [(byte)'.', .. line] : line;
    }
}
