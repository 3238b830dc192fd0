using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.Filter.Milter;

/// <summary>One packet as the milter got it or sends it: a code character and its bytes.</summary>
public sealed record MilterFrame(char Code, byte[] Data)
{
    /// <summary>The NUL-terminated strings of the data (from <paramref name="offset"/>).</summary>
    public string[] Strings(int offset = 0)
    {
        var text = Encoding.Latin1.GetString(Data, offset, Data.Length - offset);
        return text.EndsWith('\0') ? text[..^1].Split('\0') : text.Split('\0');
    }

    /// <summary>An SMFIC_MACRO's pairs (after its stage byte), as a dictionary.</summary>
    public Dictionary<string, string> Macros()
    {
        var s = Strings(1);
        return Enumerable.Range(0, s.Length / 2).ToDictionary(i => s[2 * i], i => s[2 * i + 1]);
    }

    public static MilterFrame Of(char code, params string[] strings) =>
        new(code, Encoding.Latin1.GetBytes(string.Concat(strings.Select(s => s + "\0"))));

    public static MilterFrame Indexed(char code, uint index, string name, string value)
    {
        var data = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(data, index);
        return new(code, [.. data, .. Encoding.Latin1.GetBytes($"{name}\0{value}\0")]);
    }

    public byte[] Wire()
    {
        var bytes = new byte[5 + Data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)Data.Length + 1);
        bytes[4] = (byte)Code;
        Data.CopyTo(bytes, 5);
        return bytes;
    }

    public override string ToString() => Code + (Data.Length == 0 ? "" : " " + Encoding.Latin1.GetString(Data).Replace('\0', '|'));
}

/// <summary>What the scripted milter does when it gets a packet: answer (or not), after a delay, or hang up, or send bytes that are no packet.</summary>
public sealed record MilterAct(IReadOnlyList<MilterFrame> Replies, TimeSpan Delay = default, bool HangUp = false, byte[]? Raw = null)
{
    public static MilterAct Reply(params MilterFrame[] replies) => new(replies);
    public static readonly MilterAct Continue = Reply(new MilterFrame('c', []));
    public static readonly MilterAct Nothing = Reply();
}

/// <summary>
/// A milter written in the test (protocol 6, framing by hand, not with smtpd's codec): listens on
/// a free loopback port, records every packet of every connection, negotiates what the test
/// says, and answers each command with what the script returns (by default: continue, or
/// nothing for the commands that get no answer).
/// </summary>
public sealed class ScriptedMilter : IAsyncDisposable
{
    readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource _stop = new();
    readonly Task _accepting;

    public ScriptedMilter()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public string Address => $"inet:127.0.0.1:{Port}";

    /// <summary>SMFIF_* it asks for in its OPTNEG answer.</summary>
    public uint Actions { get; set; } = 0x1ff;
    /// <summary>SMFIP_* it asks for.</summary>
    public uint Steps { get; set; }
    /// <summary>SETSYMLIST entries appended to its OPTNEG answer: stage, then the macro names.</summary>
    public List<(uint Stage, string Names)> SymbolLists { get; } = [];
    /// <summary>The script: (connection number from 0, packet) → what to do, or null for the default.</summary>
    public Func<int, MilterFrame, MilterAct?> Script { get; set; } = (_, _) => null;

    /// <summary>The packets each connection got, in order.</summary>
    public ConcurrentDictionary<int, List<MilterFrame>> Received { get; } = new();
    int _connections;

    public IReadOnlyList<MilterFrame> Connection(int n) { lock (Received) return Received.TryGetValue(n, out var l) ? [.. l] : []; }
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Waits (bounded) until connection <paramref name="n"/> got a packet with this code.</summary>
    public async Task<IReadOnlyList<MilterFrame>> WaitForAsync(int n, char code, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var frames = Connection(n);
            if (frames.Any(f => f.Code == code)) return frames;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no '{code}' on connection {n} within {timeout}: {string.Join(", ", frames.Select(f => f.Code))}");
            await Task.Delay(20);
        }
    }

    async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            int n = Interlocked.Increment(ref _connections) - 1;
            lock (Received) Received[n] = [];
            _ = ServeAsync(n, socket);
        }
    }

    async Task ServeAsync(int n, Socket socket)
    {
        using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            while (true)
            {
                var header = new byte[4];
                await stream.ReadExactlyAsync(header, _stop.Token);
                var body = new byte[BinaryPrimitives.ReadUInt32BigEndian(header)];
                await stream.ReadExactlyAsync(body, _stop.Token);
                var frame = new MilterFrame((char)body[0], body[1..]);
                lock (Received) Received[n].Add(frame);
                var act = Script(n, frame) ?? Default(frame);
                if (act.Delay > TimeSpan.Zero) await Task.Delay(act.Delay, _stop.Token);
                if (act.HangUp) return;
                if (act.Raw is { } raw) await stream.WriteAsync(raw, _stop.Token);
                foreach (var reply in act.Replies) await stream.WriteAsync(reply.Wire(), _stop.Token);
                if (frame.Code == 'Q') return;
            }
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or OperationCanceledException or SocketException) { }
    }

    /// <summary>OPTNEG gets our negotiation; macros, abort and quit get nothing; a stage gets continue unless its no-reply step was asked.</summary>
    MilterAct Default(MilterFrame frame)
    {
        uint noReply = frame.Code switch
        {
            'C' => 0x1000, 'H' => 0x2000, 'M' => 0x4000, 'R' => 0x8000, 'T' => 0x10000, 'L' => 0x80, 'N' => 0x40000, 'B' => 0x80000,
            'E' => 0, _ => uint.MaxValue,
        };
        if (frame.Code == 'O') return MilterAct.Reply(Negotiation());
        if (noReply == uint.MaxValue || (Steps & noReply) != 0) return MilterAct.Nothing;
        return MilterAct.Continue;
    }

    MilterFrame Negotiation()
    {
        var data = new List<byte>();
        foreach (uint v in new uint[] { 6, Actions, Steps }) data.AddRange(BigEndian(v));
        foreach (var (stage, names) in SymbolLists)
        {
            data.AddRange(BigEndian(stage));
            data.AddRange(Encoding.ASCII.GetBytes(names + "\0"));
        }
        return new MilterFrame('O', [.. data]);
    }

    static byte[] BigEndian(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return b;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting;
    }
}
