using Smtpd.Mta;
using Smtpd.Smtp;
using Smtpd.Table;

namespace Smtpd.Control;

/// <summary>What the control component may ask of the others. It talks to the queue, scheduler,
/// MTA and MDA by messages on the bus; SMTP pausing, log levels and table reloads are flags and
/// swaps those components own and make safe.</summary>
public sealed record ControlContext(Bus Bus, SmtpServer Smtp, SmtpdLog Log, TableSet Tables, MtaProcess Mta, DateTimeOffset Started)
{
    /// <summary>Shared with the SMTP listeners: below the reserve, smtpctl waits to be accepted too.</summary>
    public DescriptorReserve Descriptors { get; init; } = DescriptorReserve.ForThisProcess();
    /// <summary>The daemon's clock: request timeouts, monitor ticks and the times <c>show</c> prints.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
    public bool MdaPaused { get; set; }
    public bool MtaPaused { get; set; }
}
