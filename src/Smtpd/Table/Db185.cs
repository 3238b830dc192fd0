using System.Runtime.InteropServices;
using System.Text;

namespace Smtpd.Table;

/// <summary>
/// Berkeley DB hash files through the system's libdb5.3 and its DB 1.85 interface (dbopen),
/// which is what OpenSMTPD's makemap and table_db use on Debian: keys and values are stored
/// with their terminating NUL. Not thread-safe: callers lock.
/// </summary>
public sealed unsafe partial class Db185 : IDisposable
{
    const string Lib = "libdb-5.3.so";
    const int DbHash = 1;
    const int ORdOnly = 0, ORdWr = 2, OCreat = 0x40, OTrunc = 0x200;
    const uint RFirst = 3, RNext = 7;

    [StructLayout(LayoutKind.Sequential)]
    struct Db
    {
        public int Type;
        public delegate* unmanaged<Db*, int> Close;
        public delegate* unmanaged<Db*, Dbt*, uint, int> Del;
        public delegate* unmanaged<Db*, Dbt*, Dbt*, uint, int> Get;
        public delegate* unmanaged<Db*, Dbt*, Dbt*, uint, int> Put;
        public delegate* unmanaged<Db*, Dbt*, Dbt*, uint, int> Seq;
        public delegate* unmanaged<Db*, uint, int> Sync;
    }

    [StructLayout(LayoutKind.Sequential)]
    struct Dbt
    {
        public byte* Data;
        public nuint Size;
    }

    [LibraryImport(Lib, EntryPoint = "__db185_open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial Db* Open(string file, int flags, int mode, int type, IntPtr info);

    Db* _db;

    Db185(Db* db) => _db = db;

    /// <exception cref="IOException">The file cannot be opened as a hash database.</exception>
    public static Db185 OpenRead(string path) => OpenWith(path, ORdOnly, 0);

    public static Db185 Create(string path) => OpenWith(path, ORdWr | OCreat | OTrunc, 0b110_100_100);

    static Db185 OpenWith(string path, int flags, int mode)
    {
        Db* db;
        try { db = Open(path, flags, mode, DbHash, IntPtr.Zero); }
        catch (DllNotFoundException ex) { throw new IOException($"{path}: libdb5.3 is not installed ({ex.Message})"); }
        if (db == null)
        {
            // The errno rides in HResult, as in .NET's own IOExceptions (SystemErrors reads it there).
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"{path}: cannot open hash database: {SystemErrors.StrError(errno)}", errno);
        }
        return new Db185(db);
    }

    public string? Get(string key)
    {
        byte[] k = Encoding.UTF8.GetBytes(key + "\0");
        fixed (byte* kp = k)
        {
            var dk = new Dbt { Data = kp, Size = (nuint)k.Length };
            var dv = new Dbt();
            int rc = _db->Get(_db, &dk, &dv, 0);
            if (rc == 1) return null;
            if (rc != 0) throw new IOException("database read error");
            return Text(dv);
        }
    }

    public void Put(string key, string value)
    {
        byte[] k = Encoding.UTF8.GetBytes(key + "\0"), v = Encoding.UTF8.GetBytes(value + "\0");
        fixed (byte* kp = k)
        fixed (byte* vp = v)
        {
            var dk = new Dbt { Data = kp, Size = (nuint)k.Length };
            var dv = new Dbt { Data = vp, Size = (nuint)v.Length };
            if (_db->Put(_db, &dk, &dv, 0) != 0) throw new IOException("database write error");
        }
    }

    /// <summary>Every key and value, in the database's order.</summary>
    public List<(string Key, string Value)> All()
    {
        var all = new List<(string, string)>();
        var dk = new Dbt();
        var dv = new Dbt();
        for (int rc = _db->Seq(_db, &dk, &dv, RFirst); rc == 0; rc = _db->Seq(_db, &dk, &dv, RNext))
            all.Add((Text(dk), Text(dv)));
        return all;
    }

    /// <summary>
    /// Every key and value as stored, less the terminating NUL, in the database's order: what
    /// <c>makemap -U</c> prints, byte for byte.
    /// </summary>
    /// <exception cref="IOException">The database cannot be read to its end.</exception>
    public List<(byte[] Key, byte[] Value)> AllBytes()
    {
        var all = new List<(byte[], byte[])>();
        var dk = new Dbt();
        var dv = new Dbt();
        int rc;
        for (rc = _db->Seq(_db, &dk, &dv, RFirst); rc == 0; rc = _db->Seq(_db, &dk, &dv, RNext))
            all.Add((Bytes(dk), Bytes(dv)));
        if (rc == -1) throw new IOException($"database read error: {SystemErrors.StrError(Marshal.GetLastSystemError())}");
        return all;
    }

    static byte[] Bytes(Dbt d)
    {
        int n = (int)d.Size;
        if (n > 0 && d.Data[n - 1] == 0) n--;
        return new ReadOnlySpan<byte>(d.Data, n).ToArray();
    }

    static string Text(Dbt d)
    {
        int n = (int)d.Size;
        if (n > 0 && d.Data[n - 1] == 0) n--;
        return Encoding.UTF8.GetString(d.Data, n);
    }

    public void Dispose()
    {
        if (_db == null) return;
        _db->Sync(_db, 0);
        _db->Close(_db);
        _db = null;
    }
}
