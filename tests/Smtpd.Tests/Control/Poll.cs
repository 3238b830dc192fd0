namespace Smtpd.Tests.Control;

/// <summary>Waits for something a test can only observe from outside (smtpctl output, a log, a file), polling every 100 ms, never longer than its bound.</summary>
public static class Poll
{
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(100);
        }
    }
}
