namespace Smtpd.Queue;

/// <summary>
/// A spool file written from its start without being truncated first, and cut to what was
/// written when it is closed (only when the old text was longer). The spool reuses the files of
/// delivered messages (<see cref="SpoolRecycler"/>): written over in place, their blocks are
/// neither freed nor allocated again. Opening one with O_TRUNC also made ext4 flush the file's
/// data at close(2) (its "auto_da_alloc" for programs that rewrite a file in place and forget
/// fsync), one write-out per file on the session's thread, where the queue's group commit would
/// have written them all together (perf: 4 % of the daemon's CPU under load in ext4_release_file).
/// </summary>
internal sealed class RewrittenFile : FileStream
{
    readonly long _oldLength;

    public RewrittenFile(string path, FileOptions options = FileOptions.None, int bufferSize = 0)
        : base(path, SpoolModes.NewFile(FileMode.OpenOrCreate, options, bufferSize))
    {
        _oldLength = Length;
    }

    protected override void Dispose(bool disposing)
    {
        try
        {
            if (disposing && !SafeFileHandle.IsClosed)
            {
                Flush();
                if (Position < _oldLength) SetLength(Position);
            }
        }
        finally { base.Dispose(disposing); }
    }
}
