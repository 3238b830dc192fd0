namespace Smtpd.Privsep;

/// <summary>
/// What a process of ours passes on to the programs it starts. .NET opens every descriptor of its
/// own close-on-exec, but not the ones a process was given at its start: the channel end of
/// <c>--privileged-helper FD</c> and <c>--delivery-worker FD</c> (made inheritable for that one
/// spawn, see <see cref="ChildProcess"/>), and whatever the program that started smtpd left open.
/// Left so, every delivery process held the helper's channel to the daemon, and every mda command
/// that as well as its delivery process's socket (seen in /proc/PID/fd). OpenSMTPD closes
/// everything above stderr before it runs an mda command; .NET has no hook between fork and exec,
/// so a process marks what it inherited instead, before it starts anything.
/// </summary>
public static class InheritedDescriptors
{
    const uint FirstAfterStderr = 3;

    /// <summary>Marks every open descriptor above stderr close-on-exec; it stays open for this process.</summary>
    public static void KeepFromChildren()
    {
        // close_range(2) with CLOSE_RANGE_CLOEXEC (Linux 5.11, glibc 2.34) in one call; else one fcntl each.
        try { if (Posix.close_range(FirstAfterStderr, uint.MaxValue, Posix.CloseRangeCloexec) == 0) return; }
        catch (EntryPointNotFoundException) { }
        foreach (string entry in Directory.GetFiles("/proc/self/fd"))
            if (int.TryParse(Path.GetFileName(entry), out int fd) && fd >= FirstAfterStderr)
                Posix.fcntl(fd, Posix.FSetFd, Posix.FdCloexec);
    }
}
