namespace Smtpd;

/// <summary>
/// The answer a request between components is waiting for, carried inside the request message.
/// Created only by <see cref="Bus"/>'s request helpers, which number it and bound the wait. The
/// handler answers it once, with <see cref="Answer"/>; the component's loop fails it when the
/// handler throws, so the caller always hears back.
/// </summary>
public sealed class BusReply<T> : IBusReply
{
    readonly TaskCompletionSource<T> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal BusReply(long id, string request)
    {
        Id = id;
        Request = request;
    }

    /// <summary>Numbers requests for the log line of one that failed or timed out.</summary>
    public long Id { get; }
    /// <summary>The request's message name.</summary>
    public string Request { get; internal set; }

    /// <summary>True when this was the first answer (a late one after a timeout is dropped).</summary>
    public bool Answer(T value) => _answer.TrySetResult(value);

    public bool Fail(Exception error) =>
        _answer.TrySetException(error as BusRequestException ?? new BusRequestException(Request, Id, error));

    internal Task<T> Task => _answer.Task;
}
