namespace Smtpd;

/// <summary>Any <see cref="BusReply{T}"/>, for a component's loop that fails whatever request a handler threw on.</summary>
public interface IBusReply
{
    long Id { get; }
    bool Fail(Exception error);
}
