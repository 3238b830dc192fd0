using System.Diagnostics;
using Smtpd.Chaos;
using Smtpd.Queue;
using Smtpd.Scheduler;

namespace Smtpd.Tests;

/// <summary>
/// The bus's one way to ask another component something: the caller always hears back — the
/// answer, or an error at once when the handler throws, or an error when the timeout passes.
/// </summary>
public sealed class BusRequestTests
{
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_queue_handler_that_throws_answers_its_caller_with_the_error_at_once_and_the_queue_goes_on()
    {
        var ram = new RamQueue();
        var bus = new Bus();
        using var log = new SmtpdLog(foreground: true, verbose: false, TextWriter.Null);
        // Every read of an envelope fails with an I/O error, which the handler does not catch.
        var failing = new ChaosQueue(ram, new ChaosMonkey(ChaosSettings.Parse("seed=1,fail=1,delay=0")));
        var queue = new QueueProcess(failing, bus, TimeProvider.System, log);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var running = queue.RunAsync(stop.Token);

        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<BusRequestException>(() =>
            bus.RequestAsync<string?>(r => new QueueEnvelopeText(0x0123456789abcdef, r), TimeSpan.FromSeconds(30)).WaitAsync(Bound));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"answered after {watch.Elapsed}");
        Assert.IsType<IOException>(error.InnerException);
        Assert.Contains("QueueEnvelopeText", error.Message);

        // The loop survived: the next request is answered (a message that cannot be read: null).
        Assert.Null(await bus.RequestAsync<Stream?>(r => new QueueMessageOpen(0x01234567, r)).WaitAsync(Bound));
        stop.Cancel();
        try { await running; } catch (OperationCanceledException) { }
    }

    [Fact]
    public async Task A_scheduler_handler_that_throws_answers_with_the_error_and_the_scheduler_still_answers_the_next_request()
    {
        var bus = new Bus { Chaos = new ChaosMonkey(ChaosSettings.Parse("seed=1,fail=0,delay=0,throw=bus.scheduler.SchedulerList")) };
        using var log = new SmtpdLog(foreground: true, verbose: false, TextWriter.Null);
        var scheduler = new SchedulerProcess(new RamScheduler(), bus, TimeProvider.System, log);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var running = scheduler.RunAsync(stop.Token);

        var error = await Assert.ThrowsAsync<BusRequestException>(() =>
            bus.RequestAsync<IReadOnlyList<ScheduledEnvelope>>(r => new SchedulerList(0, r)).WaitAsync(Bound));
        Assert.IsType<InvalidOperationException>(error.InnerException);

        Assert.Equal(0, await bus.RequestAsync<int>(r => new SchedulerSchedule(0, r)).WaitAsync(Bound));
        stop.Cancel();
        try { await running; } catch (OperationCanceledException) { }
    }

    [Fact]
    public async Task A_request_nobody_answers_ends_with_an_error_when_its_timeout_passes()
    {
        var bus = new Bus();   // no scheduler reads its channel
        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<BusRequestException>(() =>
            bus.RequestAsync<int>(r => new SchedulerSchedule(0, r), TimeSpan.FromMilliseconds(300)).WaitAsync(Bound));
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        Assert.Contains("no answer", error.Message);
    }

    [Fact]
    public async Task Each_request_gets_its_own_id()
    {
        var bus = new Bus();
        var first = bus.RequestAsync<int>(r => new SchedulerSchedule(0, r), TimeSpan.FromSeconds(5));
        var second = bus.RequestAsync<int>(r => new SchedulerSchedule(0, r), TimeSpan.FromSeconds(5));
        Assert.True(bus.Scheduler.Reader.TryRead(out var a));
        Assert.True(bus.Scheduler.Reader.TryRead(out var b));
        var (ra, rb) = (((SchedulerSchedule)a).Reply!, ((SchedulerSchedule)b).Reply!);
        Assert.NotEqual(ra.Id, rb.Id);
        // Answers go to their own caller.
        ra.Answer(1);
        rb.Answer(2);
        Assert.Equal(1, await first.WaitAsync(Bound));
        Assert.Equal(2, await second.WaitAsync(Bound));
    }
}
