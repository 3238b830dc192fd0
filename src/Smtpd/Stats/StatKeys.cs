namespace Smtpd.Stats;

/// <summary>
/// The statistics components push, named and meant as OpenSMTPD 6.8 names and means them where
/// it has one (a gauge goes up and down with what it counts, a counter only grows). Keys of
/// ours alone are marked so; OpenSMTPD's monitor digest is kept in them.
/// </summary>
public static class StatKeys
{
    public const string SmtpSession = "smtp.session";               // gauge: open client sessions, local ones included
    public const string SmtpSessionInet4 = "smtp.session.inet4";    // counter: sessions from IPv4 clients
    public const string SmtpSessionInet6 = "smtp.session.inet6";    // counter: sessions from IPv6 clients
    public const string SmtpSessionLocal = "smtp.session.local";    // counter: local enqueue sessions (sendmail)
    public const string SmtpConnect = "smtp.session.connect";       // ours, counter: sessions accepted (monitor's conn)
    public const string SmtpDisconnect = "smtp.session.disconnect"; // ours, counter: sessions closed (monitor's disc)
    public const string SmtpTls = "smtp.tls";
    public const string SmtpMessage = "smtp.message";               // ours, counter: messages accepted
    public const string EnvelopeIncoming = "scheduler.envelope.incoming"; // gauge: envelopes of messages not committed yet
    public const string EnvelopeEnqueued = "scheduler.envelope.enqueued"; // ours, counter: envelopes queued (monitor's enq)
    public const string Envelope = "scheduler.envelope";             // gauge: envelopes in the queue
    public const string EnvelopeInflight = "scheduler.envelope.inflight"; // gauge: handed to delivery, result not back yet
    public const string EnvelopeDequeued = "scheduler.envelope.dequeued"; // ours, counter: envelopes gone (monitor's deq)
    public const string DeliveryOk = "scheduler.delivery.ok";
    public const string DeliveryTempFail = "scheduler.delivery.tempfail";
    public const string DeliveryPermFail = "scheduler.delivery.permfail";
    public const string DeliveryLoop = "scheduler.delivery.loop";
    public const string EnvelopeExpired = "scheduler.envelope.expired";
    public const string EnvelopeRemoved = "scheduler.envelope.removed";
    public const string Bounce = "queue.bounce";
    public const string MdaEnvelope = "mda.envelope";               // gauge: envelopes the MDA holds
    public const string MdaPending = "mda.pending";                 // gauge: of those, waiting for a delivery slot
    public const string MdaRunning = "mda.running";                 // gauge: deliveries running
    public const string MdaUser = "mda.user";                       // gauge: users with mail in the MDA
    public const string MtaSession = "mta.session";
    public const string MtaEnvelope = "mta.envelope";               // gauge: envelopes the MTA holds
    public const string ControlSession = "control.session";
    public const string Uptime = "smtpd.uptime";

    /// <summary>Gauges describe the running process: a restart starts them again from 0.</summary>
    public static bool IsGauge(string key) => key is SmtpSession or SmtpTls or EnvelopeIncoming or Envelope or EnvelopeInflight
        or MdaEnvelope or MdaPending or MdaRunning or MdaUser or MtaSession or MtaEnvelope or ControlSession;
}
