using Smtpd.Config;
using Smtpd.Reload;
using Smtpd.Tests.Tls;

namespace Smtpd.Tests.Config;

// A reload in an unprivileged daemon reads the configuration from what its privileged helper read
// (a recording source) and handed over (a bundle source): both must see every file smtpd -n reads.
public sealed class ConfigFilesTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("smtpd-config-files-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string Main => Path.Combine(_dir, "smtpd.conf");

    // smtpd.conf, an include, a pki (certificate and key) for a listener and a CA for a relay action.
    void WriteConfiguration()
    {
        TestCertificates.Write(_dir, "mx", "mx.example.org");
        TestCertificates.Write(_dir, "ca", "ca.example.org");
        File.WriteAllText(Path.Combine(_dir, "pki.conf"), $"""
            pki mx.example.org cert "{_dir}/mx.crt"
            pki mx.example.org key "{_dir}/mx.key"
            """);
        File.WriteAllText(Main, $"""
            include "pki.conf"
            ca myca cert "{_dir}/ca.crt"
            listen on 127.0.0.1 port 2525 smtps pki mx.example.org
            action "out" relay host smtp+tls://127.0.0.1:2526 ca myca
            match from any for any action "out"
            """);
    }

    static CheckedConfig Load(string file, ConfigFiles files) =>
        CheckedConfig.Load(file, new Dictionary<string, string>(), privileged: false, SmtpdSettings.Default, files);

    [Fact]
    public void Recording_remembers_every_file_the_check_read()
    {
        WriteConfiguration();
        var recording = ConfigFiles.Recording();
        Load(Main, recording);

        string[] read = [Main, Path.Combine(_dir, "pki.conf"), $"{_dir}/mx.crt", $"{_dir}/mx.key", $"{_dir}/ca.crt"];
        Assert.Equal(read.Order(), recording.Recorded.Keys.Order());
        foreach (string path in read) Assert.Equal(File.ReadAllText(path), recording.Recorded[path]);
    }

    [Fact]
    public void Bundle_answers_without_the_disk()
    {
        WriteConfiguration();
        var recording = ConfigFiles.Recording();
        Load(Main, recording);
        var bundle = recording.Recorded.ToDictionary();
        // The files change on disk, or go away: the bundle still has what was read.
        File.WriteAllText(Main, "this is not smtpd.conf");
        File.Delete($"{_dir}/mx.key");
        File.Delete($"{_dir}/ca.crt");

        var config = Load(Main, ConfigFiles.Bundle(bundle));
        Assert.NotNull(Assert.Single(config.Listeners).Tls);
        Assert.Single(config.RelayCas.Get("myca"));
        Assert.Throws<ConfigException>(() => Load(Main, ConfigFiles.Disk));
    }

    [Fact]
    public void Bundle_reads_the_disk_for_a_file_it_does_not_have()
    {
        WriteConfiguration();
        var config = Load(Main, ConfigFiles.Bundle(new Dictionary<string, string> { [Main] = File.ReadAllText(Main) }));
        Assert.Single(config.Listeners);
    }

    [Fact]
    public void A_missing_key_is_reported_at_its_line_as_from_the_disk()
    {
        WriteConfiguration();
        File.Delete($"{_dir}/mx.key");
        var fromDisk = Assert.Throws<ConfigException>(() => Load(Main, ConfigFiles.Disk));
        var fromBundle = Assert.Throws<ConfigException>(() => Load(Main, ConfigFiles.Bundle(new Dictionary<string, string>())));
        var recorded = Assert.Throws<ConfigException>(() => Load(Main, ConfigFiles.Recording()));
        string error = $"{Path.Combine(_dir, "pki.conf")}:1: {_dir}/mx.key: cannot open key file: No such file";
        Assert.Equal(error, Assert.Single(fromDisk.Errors).ToString());
        Assert.Equal(error, Assert.Single(fromBundle.Errors).ToString());
        Assert.Equal(error, Assert.Single(recorded.Errors).ToString());
    }

    [Fact]
    public void A_dkim_key_is_recorded_and_answered_by_the_bundle()
    {
        string key = Path.Combine(_dir, "dkim.key");
        using (var rsa = System.Security.Cryptography.RSA.Create(2048)) File.WriteAllText(key, rsa.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Main, $"""
            filter "sign" dkim-sign domain example.org selector s1 key "{key}"
            listen on 127.0.0.1 port 2525 filter "sign"
            action "local" maildir
            match from local for local action "local"
            """);
        var recording = ConfigFiles.Recording();
        Assert.Same(recording, Load(Main, recording).Files);
        Assert.Equal(File.ReadAllText(key), recording.Recorded[key]);

        File.Delete(key);
        Assert.Throws<ConfigException>(() => Load(Main, ConfigFiles.Disk));
        var bundle = ConfigFiles.Bundle(recording.Recorded);
        Load(Main, bundle);
        // And the signer the daemon then builds for the filter reads it there too.
        _ = new Smtpd.Filter.DkimSignFilter("sign", (FilterSpec.DkimSign)Load(Main, bundle).Ruleset.Filters["sign"].Spec, bundle);
    }

    [Fact]
    public void A_configuration_file_only_in_the_bundle_exists()
    {
        string elsewhere = Path.Combine(_dir, "not-on-disk.conf");
        var bundle = ConfigFiles.Bundle(new Dictionary<string, string> { [elsewhere] = "action \"local\" maildir\nmatch from local for local action \"local\"\n" });
        Assert.True(bundle.Exists(elsewhere));
        Assert.False(ConfigFiles.Disk.Exists(elsewhere));
        Assert.Single(Load(elsewhere, bundle).Ruleset.Rules);
    }
}
