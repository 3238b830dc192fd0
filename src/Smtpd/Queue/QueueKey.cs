using System.Security.Cryptography;
using System.Text;

namespace Smtpd.Queue;

/// <summary>
/// The key of <c>queue encrypt KEY</c>: 64 hex digits are the AES-256 key itself; anything else
/// is a passphrase stretched with PBKDF2-SHA256 and a salt kept in the spool. The spool also
/// keeps a sealed check value, so that a restart with another key is refused with a clear
/// error instead of calling every envelope corrupt.
/// </summary>
public static class QueueKey
{
    const string CheckFile = "queue.keycheck";
    const string CheckText = "smtpd for .NET queue key check";
    const int Iterations = 200_000;

    /// <exception cref="InvalidOperationException">The key does not open this spool's queue.</exception>
    public static byte[] Open(string spool, string secret)
    {
        string path = Path.Combine(spool, CheckFile);
        if (!File.Exists(path))
        {
            byte[] salt = RandomNumberGenerator.GetBytes(16);
            byte[] key = Derive(secret, salt);
            RefuseIfSealedWithAnotherKey(spool, path, key);
            string check = Convert.ToBase64String(new QueueCodec(false, key).Encode(Encoding.UTF8.GetBytes(CheckText)));
            using (var f = new FileStream(path, SpoolModes.NewFile(FileMode.CreateNew)))
            {
                f.Write(Encoding.ASCII.GetBytes($"{Convert.ToHexString(salt)}\n{check}\n"));
                f.Flush(flushToDisk: true);
            }
            return key;
        }

        string[] lines = File.ReadAllLines(path);
        if (lines.Length < 2) throw new InvalidOperationException($"{path}: unreadable key check file");
        byte[] existingSalt = Convert.FromHexString(lines[0]);
        byte[] candidate = Derive(secret, existingSalt);
        try
        {
            byte[] plain = new QueueCodec(false, candidate).Decode(Convert.FromBase64String(lines[1]));
            if (Encoding.UTF8.GetString(plain) == CheckText) return candidate;
        }
        catch (FormatException) { }
        throw new InvalidOperationException(
            $"queue encryption key does not match the key this queue was written with ({path}); refusing to start rather than call every message corrupt");
    }

    /// <summary>
    /// With no check file, a queue may still hold files sealed by an earlier key (the check file
    /// was deleted or lost): one of them must open with this key, or the start-up walk would call
    /// every such envelope corrupt.
    /// </summary>
    static void RefuseIfSealedWithAnotherKey(string spool, string checkPath, byte[] key)
    {
        string queue = Path.Combine(spool, "queue");
        if (!Directory.Exists(queue)) return;
        Span<byte> magic = stackalloc byte[4];
        foreach (string file in Directory.EnumerateFiles(queue, "*", SearchOption.AllDirectories))
        {
            // Only the first bytes of a file written before encryption was turned on are read.
            byte[] data;
            try
            {
                using var f = File.OpenRead(file);
                if (f.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4 || !SealedStream.HasMagic(magic)) continue;
                data = File.ReadAllBytes(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { continue; }
            try { new QueueCodec(false, key).Decode(data); return; }
            catch (FormatException) { }
            throw new InvalidOperationException(
                $"{checkPath} is missing and the queue holds files sealed with another key ({file}); " +
                "restore the check file or give the key they were written with, rather than call every message corrupt");
        }
    }

    static byte[] Derive(string secret, byte[] salt)
    {
        if (secret.Length == 64 && secret.All(char.IsAsciiHexDigit)) return Convert.FromHexString(secret);
        return Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(secret), salt, Iterations, HashAlgorithmName.SHA256, 32);
    }
}
