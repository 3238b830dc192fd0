using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Smtpd;

/// <summary>
/// The plain cause of a system error, as OpenSMTPD writes it (strerror: "Permission denied",
/// "No space left on device"), with the path when one is known. .NET's own messages are not used:
/// a trimmed build (<c>UseSystemResourceKeys</c>) replaces them with resource keys such as
/// <c>UnauthorizedAccess_IODenied_Path</c>, and an administrator reads this text in the log, in
/// <c>smtpctl show queue</c> and in bounces.
/// </summary>
public static partial class SystemErrors
{
    const int EPERM = 1, ENOENT = 2, EACCES = 13, ENAMETOOLONG = 36;

    /// <summary>"PATH: cause" when the exception names a path, else "cause".</summary>
    public static string Describe(Exception ex) =>
        PathOf(ex) is { } path ? $"{path}: {Cause(ex)}" : Cause(ex);

    /// <summary>"PATH: cause", the path the exception names or else <paramref name="path"/> (what the caller was working on).</summary>
    public static string Describe(Exception ex, string path) => $"{PathOf(ex) ?? path}: {Cause(ex)}";

    /// <summary>The cause alone: strerror of the errno behind the exception, or its message when it has none.</summary>
    public static string Cause(Exception ex) => Errno(ex) is int errno ? StrError(errno) : ex.Message;

    /// <summary>The errno an exception stands for, when it comes from a system call.</summary>
    public static int? Errno(Exception ex) => ex switch
    {
        // EACCES, EPERM and EBADF all become this; the inner IOException keeps which one.
        UnauthorizedAccessException u => u.InnerException is IOException inner && IsErrno(inner.HResult) ? inner.HResult : EACCES,
        FileNotFoundException or DirectoryNotFoundException => ENOENT,
        PathTooLongException => ENAMETOOLONG,
        // SocketException too: on Linux its native code is the errno.
        System.ComponentModel.Win32Exception w => IsErrno(w.NativeErrorCode) ? w.NativeErrorCode : null,
        // .NET puts the raw errno in the HResult of the IOExceptions it makes from a failed call.
        IOException io when IsErrno(io.HResult) => io.HResult,
        _ => ex.InnerException is { } inner ? Errno(inner) : null,
    };

    static bool IsErrno(int value) => value is > 0 and < 4096;

    /// <summary>The C library's text for an errno (strerror), the words OpenSMTPD's logs carry.</summary>
    public static string StrError(int errno)
    {
        try
        {
            if (Marshal.PtrToStringUTF8(strerror(errno)) is { Length: > 0 } text) return text;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException) { }
        return errno switch
        {
            EPERM => "Operation not permitted",
            ENOENT => "No such file or directory",
            EACCES => "Permission denied",
            28 => "No space left on device",
            122 => "Disk quota exceeded",
            _ => $"errno {errno}",
        };
    }

    [LibraryImport("libc")]
    private static partial nint strerror(int errnum);

    /// <summary>
    /// The path the failed call was about, when the exception carries it: a file name, or the
    /// argument of the message ("Access to the path '/x' is denied." in a full build,
    /// "UnauthorizedAccess_IODenied_Path, /x" in a trimmed one).
    /// </summary>
    public static string? PathOf(Exception ex)
    {
        if (ex is FileNotFoundException { FileName: { Length: > 0 } name }) return name;
        if (ex is not (IOException or UnauthorizedAccessException)) return null;
        var m = QuotedPath().Match(ex.Message);
        if (m.Success) return m.Groups[1].Value;
        m = KeyedPath().Match(ex.Message);
        return m.Success ? m.Groups[1].Value : null;
    }

    [GeneratedRegex("'(/[^']*)'")]
    private static partial Regex QuotedPath();

    [GeneratedRegex(@"^[A-Za-z0-9_]+, (/.*)$")]
    private static partial Regex KeyedPath();
}
