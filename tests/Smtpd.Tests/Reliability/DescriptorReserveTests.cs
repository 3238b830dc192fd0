namespace Smtpd.Tests.Reliability;

public sealed class DescriptorReserveTests
{
    [Fact]
    public void Accepts_stop_at_the_reserve_and_resume_when_descriptors_are_released()
    {
        int open = 100;
        var reserve = new DescriptorReserve(limit: 256, reserve: 32, messageFiles: 8, countOpen: () => open, fresh: TimeSpan.Zero);
        Assert.True(reserve.HasRoom);
        open = 224; // 32 left: the reserve is untouched only while more than 32 are free
        Assert.False(reserve.HasRoom);
        open = 200;
        Assert.True(reserve.HasRoom);
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
    public void The_process_limit_is_read()
    {
        var reserve = DescriptorReserve.ForThisProcess();
        Assert.True(reserve.Limit >= 64);
        Assert.InRange(reserve.Reserve, 32, 256);
        Assert.Equal(Math.Max(4, reserve.Reserve / 4), reserve.MessageFiles);
        Assert.True(reserve.Free > 0);
    }
}
