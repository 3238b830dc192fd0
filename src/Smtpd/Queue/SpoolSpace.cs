namespace Smtpd.Queue;

/// <summary>
/// Free space in the spool. A message is refused up front (452 4.3.1) when what it declared,
/// half as much again for its copies in transit, and a margin would not fit; a message that
/// does not declare its size still needs the margin. The margin keeps room for envelopes,
/// bounces and the updates of mail already accepted, which must never fail for want of space.
/// </summary>
public static class SpoolSpace
{
    /// <param name="minFree">The margin: 4 MiB, or <c>SMTPD_SPOOL_MINFREE</c> bytes (Postfix's queue_minfree).</param>
    public static bool HasRoom(string spool, long declaredSize, long minFree)
    {
        long free;
        try { free = new DriveInfo(spool).AvailableFreeSpace; }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException) { return true; }
        return free >= minFree + declaredSize + declaredSize / 2;
    }
}
