namespace Smtpd;

/// <summary>
/// A cancellation that comes from an outer token or from a timeout on a <see cref="TimeProvider"/>'s
/// clock. It replaces <c>CreateLinkedTokenSource(ct)</c> + <c>CancelAfter</c>, whose timer always
/// runs on the system clock: with this one a fake clock moves the timeouts in tests as well.
/// </summary>
public sealed class Deadline : IDisposable
{
    readonly CancellationTokenSource _source;
    readonly CancellationTokenRegistration _outer;

    /// <param name="time">The clock <see cref="CancelAfter"/> counts on.</param>
    /// <param name="outer">Cancels this one too (shutdown, the caller's own deadline).</param>
    public Deadline(TimeProvider time, CancellationToken outer)
    {
        // A source made with a TimeProvider keeps using it for every later CancelAfter.
        _source = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
        _outer = outer.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _source);
    }

    /// <summary>A deadline <paramref name="after"/> from now on <paramref name="time"/>'s clock, or sooner if <paramref name="outer"/> is cancelled.</summary>
    public static Deadline After(TimeProvider time, TimeSpan after, CancellationToken outer)
    {
        var deadline = new Deadline(time, outer);
        deadline.CancelAfter(after);
        return deadline;
    }

    public CancellationToken Token => _source.Token;
    public bool IsCancellationRequested => _source.IsCancellationRequested;

    /// <summary>(Re)arms the timeout, counted from now.</summary>
    public void CancelAfter(TimeSpan after) => _source.CancelAfter(after);

    public void Cancel() => _source.Cancel();

    public void Dispose()
    {
        // The outer registration first: its callback must not reach a disposed source.
        _outer.Dispose();
        _source.Dispose();
    }
}
