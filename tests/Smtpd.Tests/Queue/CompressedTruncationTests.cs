using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Smtpd.Queue;

namespace Smtpd.Tests.Queue;

// A compressed spool file cut short (a full disk, a crash, a bad copy) must be refused when it is
// read, never read as a shorter or empty message: GZipStream alone ends quietly, the codec checks
// the gzip trailer (RFC 1952 CRC-32 and length) against what came out.
public sealed class CompressedTruncationTests : IDisposable
{
    readonly string _spool = Directory.CreateTempSubdirectory("fsqueue-gz-").FullName;
    public void Dispose() => Directory.Delete(_spool, recursive: true);

    static readonly QueueCodec Compressing = new(true, null);

    /// <summary>About 300 KB of text with random words: several deflate blocks, and a compressed file of some size.</summary>
    static byte[] Message()
    {
        var text = new StringBuilder("From: a@example.org\r\nSubject: whole\r\n\r\n");
        for (int i = 0; i < 6000; i++) text.Append($"line {i} {Convert.ToHexString(RandomNumberGenerator.GetBytes(16))}\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    static byte[] Compress(byte[] plain) => Compressing.Encode(plain);

    /// <summary>Where a file is cut: inside the deflate data, inside the 8-byte trailer, just the 10-byte header.</summary>
    public static TheoryData<string> Cuts => ["half", "body-end", "trailer-1", "trailer-4", "trailer-7", "header", "header-part"];

    static int CutAt(string cut, int length) => cut switch
    {
        "half" => length / 2,
        "body-end" => length - 8,
        "trailer-1" => length - 1,
        "trailer-4" => length - 4,
        "trailer-7" => length - 7,
        "header" => 10,
        "header-part" => 5,
        _ => throw new ArgumentException(cut),
    };

    static byte[] ReadAll(Stream s)
    {
        var plain = new MemoryStream();
        s.CopyTo(plain);
        return plain.ToArray();
    }

    static async Task<byte[]> ReadAllAsync(Stream s)
    {
        var plain = new MemoryStream();
        await s.CopyToAsync(plain);
        return plain.ToArray();
    }

    [Theory]
    [MemberData(nameof(Cuts))]
    public async Task A_cut_compressed_file_is_refused_by_the_codec(string cut)
    {
        byte[] stored = Compress(Message());
        byte[] truncated = stored[..CutAt(cut, stored.Length)];
        Assert.ThrowsAny<InvalidDataException>(() => ReadAll(Compressing.WrapRead(new MemoryStream(truncated))));
        await Assert.ThrowsAnyAsync<InvalidDataException>(() => ReadAllAsync(Compressing.WrapRead(new MemoryStream(truncated))));
        Assert.Throws<FormatException>(() => Compressing.Decode(truncated)); // envelopes are decoded whole
    }

    [Theory]
    [MemberData(nameof(Cuts))]
    public async Task A_cut_compressed_message_file_is_a_corrupt_message_never_a_short_one(string cut)
    {
        var q = new FsQueue(_spool, Compressing);
        q.Init();
        byte[] plain = Message();
        uint msgid = await q.MessageCreateAsync();
        await using (var s = q.MessageWriteStream(msgid)) await s.WriteAsync(plain);
        await q.MessageCommitAsync(msgid);
        string path = q.MessagePath(msgid);
        byte[] stored = File.ReadAllBytes(path);
        File.WriteAllBytes(path, stored[..CutAt(cut, stored.Length)]);

        // Cut in the trailer, all of the text may come out first: the error still ends the read.
        var error = await Assert.ThrowsAsync<CorruptMessageException>(async () =>
        {
            await using var s = q.MessageReadStream(msgid);
            await s.CopyToAsync(Stream.Null);
        });
        Assert.Contains(CorruptMessageException.Marker, error.Message);
    }

    [Fact]
    public async Task An_intact_compressed_message_file_reads_byte_for_byte()
    {
        var q = new FsQueue(_spool, Compressing);
        q.Init();
        byte[] plain = Message();
        uint msgid = await q.MessageCreateAsync();
        await using (var s = q.MessageWriteStream(msgid)) await s.WriteAsync(plain);
        await q.MessageCommitAsync(msgid);

        await using (var s = q.MessageReadStream(msgid)) Assert.Equal(plain, await ReadAllAsync(s));
        using (var s = q.MessageReadStream(msgid)) Assert.Equal(plain, ReadAll(s));
        // Byte by byte: the check runs once, at the end, however the reads are cut.
        using (var s = q.MessageReadStream(msgid))
        {
            var bytes = new List<byte>();
            for (int b; (b = s.ReadByte()) >= 0;) bytes.Add((byte)b);
            Assert.Equal(plain, bytes.ToArray());
            Assert.Equal(-1, s.ReadByte());
        }
        // What an admin gets with zcat is what the queue reads.
        using var gunzip = new GZipStream(File.OpenRead(q.MessagePath(msgid)), CompressionMode.Decompress);
        Assert.Equal(plain, ReadAll(gunzip));
    }

    [Fact]
    public void Empty_and_encrypted_compressed_files_still_round_trip()
    {
        Assert.Equal([], Compressing.Decode(Compress([])));
        var both = new QueueCodec(true, RandomNumberGenerator.GetBytes(32));
        byte[] plain = Message();
        Assert.Equal(plain, both.Decode(both.Encode(plain)));
    }

    [Fact]
    public void A_trailer_that_does_not_match_the_data_is_refused()
    {
        byte[] stored = Compress(Message());
        byte[] wrongLength = (byte[])stored.Clone();
        wrongLength[^1] ^= 0x01; // ISIZE's top byte
        Assert.ThrowsAny<InvalidDataException>(() => ReadAll(Compressing.WrapRead(new MemoryStream(wrongLength))));
        byte[] trailing = [.. stored, 0, 0, 0, 0];
        Assert.ThrowsAny<InvalidDataException>(() => ReadAll(Compressing.WrapRead(new MemoryStream(trailing))));
    }
}
