using Microsoft.Extensions.Time.Testing;

namespace Smtpd.Tests.Daemon;

// The heap is trimmed once after a burst of work, when a whole interval passes quietly; never
// while work goes on, and not again until there has been more work.
public sealed class IdleMemoryTrimTests
{
    [Fact]
    public async Task Trims_once_after_a_burst_and_never_while_busy()
    {
        var clock = new FakeTimeProvider();
        var output = new StringWriter();
        var log = new SmtpdLog(foreground: true, verbose: true, TextWriter.Synchronized(output));
        using var stop = new CancellationTokenSource();
        // The allocation count the trim watches: the test's own, so other tests running at the same time do not count.
        var trimming = new IdleMemoryTrim(clock, log, () => Interlocked.Read(ref _allocated)).RunAsync(stop.Token);
        int Trims() => TrimCount(output.ToString());

        // Busy: several intervals, each allocating well over the quiet threshold.
        for (int i = 0; i < 3; i++)
        {
            Work();
            await TickAsync(clock);
            Assert.Equal(0, Trims());
        }
        // The first quiet interval after the work: one trim; further quiet intervals: none.
        await TickAsync(clock);
        await WaitForAsync(() => Trims() == 1);
        await TickAsync(clock);
        await TickAsync(clock);
        Assert.Equal(1, Trims());
        // More work, then quiet again: a second trim.
        Work();
        await TickAsync(clock);
        await TickAsync(clock);
        await WaitForAsync(() => Trims() == 2);

        stop.Cancel();
        await trimming;
        log.Dispose();
    }

    static int TrimCount(string text) => text.Split("heap trimmed").Length - 1;

    long _allocated;

    /// <summary>A megabyte of work in one interval, as far as the trim can tell.</summary>
    void Work() => Interlocked.Add(ref _allocated, 1024 * 1024);

    static async Task TickAsync(FakeTimeProvider clock)
    {
        clock.Advance(IdleMemoryTrim.Interval);
        await Task.Delay(50);
    }

    static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(condition());
    }
}
