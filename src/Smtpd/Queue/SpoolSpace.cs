namespace Smtpd.Queue;

/// <summary>
/// Free space in the spool. A message is refused up front (452 4.3.1) when what it declared,
/// half as much again for its copies in transit, and a margin would not fit; a message that
/// does not declare its size still needs the margin. The margin keeps room for envelopes,
/// bounces and the updates of mail already accepted, which must never fail for want of space.
/// </summary>
public static class SpoolSpace
{
    /// <summary>4 MiB, or <c>SMTPD_SPOOL_MINFREE</c> bytes (Postfix's queue_minfree).</summary>
    public static readonly long MinFree =
        long.TryParse(Environment.GetEnvironmentVariable("SMTPD_SPOOL_MINFREE"), out long b) && b >= 0 ? b : 4L << 20;

    public static bool HasRoom(string spool, long declaredSize)
    {
        long free;
        try { free = new DriveInfo(spool).AvailableFreeSpace; }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException) { return true; }
        return free >= MinFree + declaredSize + declaredSize / 2;
    }
}
