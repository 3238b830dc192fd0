using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Admin;

// Issue 18, item 12: `makemap -U` dumps a db file back to text, byte for byte as OpenSMTPD 6.8's
// makemap does: the same source built by theirs and by ours (plain map, -t aliases, -t set), each
// database dumped by both programs.
public sealed class MakemapDumpTests : IDisposable
{
    const string TheirMakemap = "/opt/opensmtpd/usr/sbin/makemap";
    readonly string _dir = Directory.CreateTempSubdirectory("smtpd-makemap-dump-").FullName;

    static Task<(int Code, string Output)> OursAsync(params string[] args) =>
        TestBinaries.RunAsync("smtpctl", ["makemap", .. args]);

    static Task<(int Code, string Output)> TheirsAsync(params string[] args) => ExternalTool.RunAsync(TheirMakemap, args);

    [SkippableTheory]
    [InlineData("map", "# credentials\nlabel1 bob:secret\nlabel2\tcarol:other\nnaïve   café:crème\nempty-ish x\n")]
    [InlineData("aliases", "root: bob\nsales: alice, carol@example.org\nlists: :include:/etc/mail/lists\npipe: \"|/usr/bin/true\"\nabuse: root\n")]
    [InlineData("set", "192.0.2.1\n198.51.100.0/24\nexample.org\n# a comment\nmail.example.net\n")]
    public async Task Dump_is_byte_for_byte_opensmtpds(string type, string text)
    {
        Skip.IfNot(File.Exists(TheirMakemap), "OpenSMTPD 6.8 is not extracted in /opt/opensmtpd (bench/install-opensmtpd.sh)");
        string source = Path.Combine(_dir, type);
        await File.WriteAllTextAsync(source, text);
        string[] typeArgs = type == "map" ? [] : ["-t", type];
        var (code, output) = await TheirsAsync([.. typeArgs, "-o", source + ".theirs.db", source]);
        Assert.True(code == 0, output);
        (code, output) = await OursAsync([.. typeArgs, "-o", source + ".ours.db", source]);
        Assert.True(code == 0, output);

        foreach (string db in new[] { source + ".theirs.db", source + ".ours.db" })
        {
            var (theirCode, theirs) = await TheirsAsync([.. typeArgs, "-U", db]);
            var (ourCode, ours) = await OursAsync([.. typeArgs, "-U", db]);
            Assert.Equal(0, theirCode);
            Assert.Equal(0, ourCode);
            Assert.NotEmpty(theirs);
            Assert.Equal(theirs, ours);
        }
    }

    [SkippableFact]
    public async Task A_missing_database_is_named_as_opensmtpd_names_it()
    {
        Skip.IfNot(File.Exists(TheirMakemap), "OpenSMTPD 6.8 is not extracted in /opt/opensmtpd (bench/install-opensmtpd.sh)");
        string missing = Path.Combine(_dir, "missing.db");
        var (theirCode, theirs) = await TheirsAsync("-U", missing);
        var (ourCode, ours) = await OursAsync("-U", missing);
        Assert.Equal(theirCode, ourCode);
        Assert.Equal($"makemap: dbopen: {missing}: No such file or directory\n", theirs);
        Assert.Equal(theirs, ours);
    }

    [SkippableFact]
    public async Task A_file_that_is_no_database_is_refused_as_opensmtpd_refuses_it()
    {
        Skip.IfNot(File.Exists(TheirMakemap), "OpenSMTPD 6.8 is not extracted in /opt/opensmtpd (bench/install-opensmtpd.sh)");
        string garbage = Path.Combine(_dir, "garbage.db");
        File.WriteAllText(garbage, "not a database\n");
        var (theirCode, theirs) = await TheirsAsync("-U", garbage);
        var (ourCode, ours) = await OursAsync("-U", garbage);
        Assert.Equal(theirCode, ourCode);
        // libdb adds a line of its own before it on both sides; the last line is makemap's.
        string Last(string text) => text.TrimEnd('\n').Split('\n')[^1];
        Assert.Equal($"makemap: dbopen: {garbage}: Invalid argument", Last(theirs));
        Assert.Equal(Last(theirs), Last(ours));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
