namespace Smtpd.Filter.Milter;

/// <summary>
/// A body kept on disk while a milter reads it, so that the message can be given on unchanged
/// (or the milter's replacement given instead) without holding it in memory. The file is
/// unlinked when disposed.
/// </summary>
public sealed class MessageSpool : IDisposable
{
    readonly FileStream _file;

    public MessageSpool()
    {
        string path = FilePath = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"smtpd-milter-{Guid.NewGuid():N}");
        // Mail is private: readable by smtpd's user only, whatever the umask.
        _file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.None, BufferSize = 64 * 1024,
            Options = FileOptions.DeleteOnClose | FileOptions.Asynchronous,
            UnixCreateMode = OperatingSystem.IsWindows() ? null : UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
    }

    /// <summary>Where it is (gone once disposed).</summary>
    public string FilePath { get; }

    public long Length => _file.Length;

    public ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct = default) => _file.WriteAsync(bytes, ct);

    /// <summary>The lines written, without their line ends (CRLF or a lone LF); a last line without one is a line too.</summary>
    public async IAsyncEnumerable<byte[]> ReadLinesAsync()
    {
        await _file.FlushAsync();
        _file.Position = 0;
        var buffer = new byte[64 * 1024];
        var line = new List<byte>();
        int read;
        while ((read = await _file.ReadAsync(buffer)) > 0)
        {
            int start = 0;
            for (int i = 0; i < read; i++)
            {
                if (buffer[i] != (byte)'\n') continue;
                line.AddRange(buffer.AsSpan(start, i - start));
                if (line.Count > 0 && line[^1] == (byte)'\r') line.RemoveAt(line.Count - 1);
                yield return line.ToArray();
                line.Clear();
                start = i + 1;
            }
            line.AddRange(buffer.AsSpan(start, read - start));
        }
        if (line.Count > 0) yield return line.ToArray();
    }

    public void Dispose() => _file.Dispose();
}
