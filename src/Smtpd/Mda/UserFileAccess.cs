using System.Runtime.InteropServices;

namespace Smtpd.Mda;

/// <summary>
/// Runs file operations with a user's file-system identity. Started as root, smtpd must never
/// write a user's mailbox as root: a symlink planted by the user would make root write anywhere.
/// Linux's setfsuid/setfsgid change the identity used for file access of one thread only, so
/// the work runs synchronously on a dedicated thread that takes the user's identity and drops it
/// when done. Files it creates belong to the user. Not root: the work runs as we are.
/// </summary>
public static partial class UserFileAccess
{
    [LibraryImport("libc", EntryPoint = "setfsuid")]
    private static partial int SetFsUid(uint uid);

    [LibraryImport("libc", EntryPoint = "setfsgid")]
    private static partial int SetFsGid(uint gid);

    public static Task<T> RunAsync<T>(SystemUser user, Func<T> work)
    {
        if (!SystemUsers.IsRoot) return Task.Run(work);

        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            // setfsuid reports the previous value; asking again with an invalid id (-1) reads the current one.
            SetFsGid(user.Gid);
            SetFsUid(user.Uid);
            try
            {
                if (unchecked((uint)SetFsUid(uint.MaxValue)) != user.Uid || unchecked((uint)SetFsGid(uint.MaxValue)) != user.Gid)
                    throw new IOException($"could not take the identity of {user.Name}");
                done.SetResult(work());
            }
            catch (Exception ex) { done.SetException(ex); }
            finally
            {
                SetFsUid(0);
                SetFsGid(0);
            }
        })
        { IsBackground = true, Name = "mda-as-user" };
        thread.Start();
        return done.Task;
    }
}
