using System.Runtime.InteropServices;

namespace Smtpd.Mda;

/// <summary>
/// Runs file operations with a user's file-system identity. Started as root, smtpd must never
/// write a user's mailbox as root: a symlink planted by the user would make root write anywhere.
/// Linux's setfsuid/setfsgid change the identity used for file access of one thread only, so the
/// work runs synchronously on one of a few dedicated threads, which takes the user's identity
/// for the job and returns to root after it. Files it creates belong to the user.
/// Not root: the work simply runs as we are.
/// </summary>
public static partial class UserFileAccess
{
    /// <summary>Dedicated threads; deliveries beyond this many wait their turn.</summary>
    public const int Threads = 8;

    [LibraryImport("libc", EntryPoint = "setfsuid")]
    private static partial int SetFsUid(uint uid);

    [LibraryImport("libc", EntryPoint = "setfsgid")]
    private static partial int SetFsGid(uint gid);

    static readonly JobThreads Jobs = new("mda-as-user", Threads);

    public static Task<T> RunAsync<T>(SystemUser user, Func<T> work)
    {
        if (!SystemUsers.IsRoot) return Task.Run(work);

        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Jobs.Post(() =>
        {
            try { done.SetResult(AsUser(user, work)); }
            catch (Exception ex) { done.SetException(ex); }
        });
        return done.Task;
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the calling thread with the user's file identity, and back
    /// to root after it. Only for a thread of our own that runs nothing else meanwhile (never a
    /// thread-pool thread): the privileged helper's thread of ~/.forward reads
    /// (<see cref="JobThreads"/>; two thread hand-offs less per message than
    /// <see cref="RunAsync{T}"/>).
    /// </summary>
    public static T RunHere<T>(SystemUser user, Func<T> work) => SystemUsers.IsRoot ? AsUser(user, work) : work();

    static T AsUser<T>(SystemUser user, Func<T> work)
    {
        SetFsGid(user.Gid);
        SetFsUid(user.Uid);
        try
        {
            // setfsuid reports the previous value; asking with an invalid id (-1) reads the current one.
            if (unchecked((uint)SetFsUid(uint.MaxValue)) != user.Uid || unchecked((uint)SetFsGid(uint.MaxValue)) != user.Gid)
                throw new IOException($"could not take the identity of {user.Name}");
            return work();
        }
        finally
        {
            SetFsUid(0);
            SetFsGid(0);
        }
    }
}
