namespace Smtpd.Stats;

/// <summary>The statistics components push, named as OpenSMTPD names them where it has one.</summary>
public static class StatKeys
{
    public const string SmtpSession = "smtp.session";               // open client sessions
    public const string SmtpConnect = "smtp.session.connect";       // total accepted
    public const string SmtpDisconnect = "smtp.session.disconnect"; // total closed
    public const string SmtpTls = "smtp.tls";
    public const string SmtpMessage = "smtp.message";
    public const string EnvelopeEnqueued = "scheduler.envelope.incoming";
    public const string Envelope = "scheduler.envelope";             // in the queue now
    public const string EnvelopeDequeued = "scheduler.envelope.dequeued";
    public const string DeliveryOk = "scheduler.delivery.ok";
    public const string DeliveryTempFail = "scheduler.delivery.tempfail";
    public const string DeliveryPermFail = "scheduler.delivery.permfail";
    public const string DeliveryLoop = "scheduler.delivery.loop";
    public const string EnvelopeExpired = "scheduler.envelope.expired";
    public const string EnvelopeRemoved = "scheduler.envelope.removed";
    public const string Bounce = "queue.bounce";
    public const string MtaSession = "mta.session";
    public const string ControlSession = "control.session";
    public const string Uptime = "smtpd.uptime";
}
