namespace Smtpd.Control;

/// <summary>What the control component may ask of the others: it changes and reads their state
/// only by messages on the bus. It keeps what it last asked for (paused or not) to answer
/// <c>show status</c>, as OpenSMTPD's control process does. Log levels are switches of the one
/// shared log; statistics are read from the stat backend, kept for control as OpenSMTPD's are.</summary>
public sealed record ControlContext(Bus Bus, SmtpdLog Log, DateTimeOffset Started)
{
    /// <summary>Shared with the SMTP listeners: below the reserve, smtpctl waits to be accepted too.</summary>
    public DescriptorReserve Descriptors { get; init; } = DescriptorReserve.ForThisProcess();
    /// <summary>The daemon's clock: request timeouts, monitor ticks and the times <c>show</c> prints.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
    public bool MdaPaused { get; set; }
    public bool MtaPaused { get; set; }
    public bool SmtpPaused { get; set; }
}
