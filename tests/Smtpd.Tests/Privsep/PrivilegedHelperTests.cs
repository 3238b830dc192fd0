using System.Text;
using System.Text.Json;
using Smtpd.Privsep;

namespace Smtpd.Tests.Privsep;

// The helper keeps root: whatever a (possibly compromised) daemon sends it, it answers only what
// it is meant to and goes on. Here it runs on one end of a real socket pair, the test on the other.
public sealed class PrivilegedHelperTests : IDisposable
{
    readonly FdChannel _daemon, _helperEnd;
    readonly SmtpdLog _log = new(foreground: true, verbose: false, stderr: TextWriter.Null);

    public PrivilegedHelperTests()
    {
        (_daemon, _helperEnd) = FdChannel.Pair();
        var helper = new PrivilegedHelper(_helperEnd, new SmtpdPaths(Path.GetTempPath(), "/nonexistent.sock", Path.GetTempPath()), _log);
        new Thread(helper.Run) { IsBackground = true }.Start();
    }

    JsonElement Ask(string json)
    {
        _daemon.Send(Encoding.UTF8.GetBytes(json));
        var answer = _daemon.Receive() ?? throw new IOException("the helper closed the channel");
        Assert.Empty(answer.Fds);
        return JsonDocument.Parse(answer.Data).RootElement;
    }

    [Fact]
    public void Garbage_is_ignored_and_the_next_request_is_answered()
    {
        _daemon.Send("not json at all"u8);
        _daemon.Send("{\"Id\":"u8);
        var reply = Ask("""{"Id":7,"Op":"no-such-op"}""");
        Assert.Equal(7, reply.GetProperty("Id").GetInt64());
        Assert.Equal("failed", reply.GetProperty("Result").GetString());
        Assert.Contains("unknown request", reply.GetProperty("Text").GetString());
    }

    [Fact]
    public void A_delivery_process_for_root_is_refused_even_when_asked_directly()
    {
        var reply = Ask("""{"Id":1,"Op":"worker","User":"root","Uid":0,"Gid":0}""");
        Assert.Equal("failed", reply.GetProperty("Result").GetString());
        Assert.Contains("root is not allowed", reply.GetProperty("Text").GetString());
    }

    [Fact]
    public void Forward_of_an_unknown_user_is_no_forward()
    {
        var reply = Ask("""{"Id":2,"Op":"forward","User":"../../etc/shadow"}""");
        Assert.Equal("failed", reply.GetProperty("Result").GetString());
        Assert.False(reply.TryGetProperty("Value", out _));
    }

    public void Dispose()
    {
        _daemon.Dispose(); // the helper sees the end of its channel and stops
        _log.Dispose();
    }
}
