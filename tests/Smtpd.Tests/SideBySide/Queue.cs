namespace Smtpd.Tests.SideBySide;

/// <summary>The queue as each server's <c>smtpctl show queue</c> prints it.</summary>
public static class Queue
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    public static async Task<string[][]> ShowAsync(ISideServer s)
    {
        var (_, text) = await s.SmtpctlAsync("show", "queue");
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('|')).ToArray();
    }

    /// <summary>Waits (bounded) until the queue is empty, then a moment for the last delivery's log line.</summary>
    public static async Task WaitEmptyAsync(ISideServer s)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while ((await ShowAsync(s)).Length > 0 && DateTime.UtcNow < deadline) await Task.Delay(200);
        await Task.Delay(300);
    }

    /// <summary>Waits (bounded) until the queue holds <paramref name="count"/> envelopes matching <paramref name="where"/>.</summary>
    public static async Task<string[][]> WaitForAsync(ISideServer s, Func<string[], bool> where, int count = 1)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var q = await ShowAsync(s);
            if (q.Count(where) >= count || DateTime.UtcNow > deadline) return q;
            await Task.Delay(200);
        }
    }
}
