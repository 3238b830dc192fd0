namespace Smtpd;

/// <summary>A message whose sender waits for an answer (null when it was posted with none expected).</summary>
public interface IBusRequest
{
    IBusReply? Reply { get; }
}
