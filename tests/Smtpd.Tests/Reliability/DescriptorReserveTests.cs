namespace Smtpd.Tests.Reliability;

public sealed class DescriptorReserveTests
{
    [Fact]
    public async Task Accepts_stop_at_the_reserve_and_resume_when_descriptors_are_released()
    {
        int open = 100;
        var reserve = new DescriptorReserve(limit: 256, reserve: 32, messageFiles: 8, countOpen: () => open, fresh: TimeSpan.Zero);
        Assert.True(reserve.HasRoom);
        open = 224; // 32 left: the reserve is untouched only while more than 32 are free
        Assert.True(await BecomesAsync(() => !reserve.HasRoom)); // seen at the next count (taken aside, this far from the limit)
        Assert.False(reserve.HasRoom); // near the limit every look counts again
        open = 200;
        Assert.True(reserve.HasRoom);
    }

    static async Task<bool> BecomesAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(10);
        return condition();
    }

    [Fact]
    public async Task Message_files_wait_for_a_free_slot()
    {
        var reserve = new DescriptorReserve(limit: 1000, reserve: 32, messageFiles: 2, countOpen: () => 10);
        var first = await reserve.TakeMessageFileAsync(TimeSpan.Zero, CancellationToken.None);
        var second = await reserve.TakeMessageFileAsync(TimeSpan.Zero, CancellationToken.None);
        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.Null(await reserve.TakeMessageFileAsync(TimeSpan.FromMilliseconds(50), CancellationToken.None));

        var waiting = reserve.TakeMessageFileAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        first!.Dispose();
        first.Dispose(); // a second dispose gives nothing back twice
        Assert.NotNull(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Null(await reserve.TakeMessageFileAsync(TimeSpan.Zero, CancellationToken.None));
    }

    [Fact]
    public void Accepts_between_counts_are_added_to_the_last_count()
    {
        int counts = 0;
        var reserve = new DescriptorReserve(limit: 100_000, reserve: 32, messageFiles: 1024, countOpen: () => { counts++; return 50; });
        Assert.True(reserve.HasRoom);
        for (int i = 0; i < 1000; i++) reserve.Accepted();
        Assert.Equal(100_000 - 1050, reserve.Free); // far from the limit: the count is reused
        Assert.Equal(1, counts);
    }

    [Fact]
    public void A_costly_count_is_not_taken_again_before_twenty_times_its_cost()
    {
        // /proc/self/fd with 10,000 sessions took 100 ms a count here: counting every 100 ms
        // kept the accept loop busy counting, and fresh clients waited that long for a banner.
        int counts = 0, open = 220;
        var reserve = new DescriptorReserve(limit: 256, reserve: 32, messageFiles: 8,
            countOpen: () => { counts++; Thread.Sleep(100); return open; }, fresh: TimeSpan.Zero);
        Assert.True(reserve.HasRoom); // 36 free, near the limit: an ordinary count would be taken every time
        open = 250;
        Assert.True(reserve.HasRoom); // within 2 s of a 100 ms count: the last count stands
        Assert.Equal(1, counts);
        reserve.Accepted();
        reserve.Accepted();
        reserve.Accepted();
        reserve.Accepted();
        Assert.False(reserve.HasRoom); // accepts since the count still add up
        Assert.Equal(1, counts);
    }

    [Fact]
    public async Task Far_from_the_limit_a_new_count_is_taken_off_the_accept_path()
    {
        using var gate = new ManualResetEventSlim(false);
        int open = 50, counts = 0;
        var reserve = new DescriptorReserve(limit: 100_000, reserve: 32, messageFiles: 8, fresh: TimeSpan.Zero,
            countOpen: () => { if (Interlocked.Increment(ref counts) == 2) gate.Wait(TimeSpan.FromSeconds(10)); return open; });
        Assert.Equal(100_000 - 50, reserve.Free); // the first count is taken at once
        open = 5000;
        reserve.Accepted();
        Assert.Equal(100_000 - 51, reserve.Free); // a count is due but runs aside: the estimate answers meanwhile
        Assert.Equal(100_000 - 51, reserve.Free);
        gate.Set();
        Assert.True(await BecomesAsync(() => reserve.Free == 100_000 - 5000)); // the accept is in the new count, not added twice
    }

    [Fact]
    public void The_process_limit_is_read()
    {
        var reserve = DescriptorReserve.ForThisProcess();
        Assert.True(reserve.Limit >= 64);
        Assert.InRange(reserve.Reserve, 32, 256);
        Assert.Equal(Math.Max(4, reserve.Reserve / 4), reserve.MessageFiles);
        Assert.True(reserve.Free > 0);
    }
}
