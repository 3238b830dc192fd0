using System.Text;
using Smtpd.Queue;
using Smtpd.Scheduler;

namespace Smtpd.Fuzz;

/// <summary>
/// An envelope file as the queue reads it back (<see cref="EnvelopeText.Parse"/>), whose defined
/// failure is <see cref="FormatException"/> (the queue then moves the file to corrupt/). What
/// loads is then used as a queue load uses it: handed to the scheduler, which computes its expiry
/// and next try. And it round-trips: written out and read again, it is the same envelope, up to
/// what <see cref="EnvelopeText.Format"/> is documented to drop (CR in values, mda-* keys of
/// envelopes that are not local deliveries).
/// </summary>
public sealed class EnvelopeTarget : IFuzzTarget
{
    const ulong Id = 0x90fa32a23acab696;
    static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_750_000_000);

    public string Name => "envelope";

    public void Run(byte[] input)
    {
        // FsQueue decodes the file the same way: invalid UTF-8 becomes U+FFFD, never an error.
        string text = Encoding.UTF8.GetString(input);
        Envelope e;
        try { e = EnvelopeText.Parse(Id, text); }
        catch (FormatException) { return; }

        var scheduler = new RamScheduler();
        scheduler.Insert(SchedulerInfo.From(e));
        scheduler.Commit(e.MessageId);
        scheduler.Batch(Now, 100);
        scheduler.Batch(e.ExpiresAt, 100);

        string written = EnvelopeText.Format(e);
        Envelope again;
        try { again = EnvelopeText.Parse(Id, written); }
        catch (FormatException ex) { throw new BrokenInvariantException($"a written envelope does not load: {ex.Message}\n{written}"); }
        if (again != Canonical(e))
            throw new BrokenInvariantException($"the envelope changed on a round trip:\n{written}");
        if (EnvelopeText.Format(again) != written)
            throw new BrokenInvariantException("the envelope is written differently the second time");
    }

    /// <summary>The envelope as Format can write it.</summary>
    static Envelope Canonical(Envelope e)
    {
        static string? Line(string? s) => s?.Replace('\r', ' ');
        bool local = e.Type == EnvelopeType.Mda;
        return e with
        {
            Dispatcher = Line(e.Dispatcher)!, Tag = Line(e.Tag), SmtpName = Line(e.SmtpName)!, Helo = Line(e.Helo)!,
            Hostname = Line(e.Hostname)!, Username = Line(e.Username), ErrorLine = Line(e.ErrorLine), SockAddr = Line(e.SockAddr)!,
            Sender = Line(e.Sender)!, Rcpt = Line(e.Rcpt)!, Dest = Line(e.Dest)!,
            DsnRet = Line(e.DsnRet), DsnEnvid = Line(e.DsnEnvid), DsnOrcpt = Line(e.DsnOrcpt),
            MdaSubaddress = local ? Line(e.MdaSubaddress) : null, MdaUser = local ? Line(e.MdaUser) : null,
            MdaMethod = local ? Line(e.MdaMethod) : null, MdaTarget = local ? Line(e.MdaTarget) : null,
        };
    }
}
