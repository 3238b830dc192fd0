using Smtpd.Config;
using Smtpd.Daemon;

namespace Smtpd.Tests.Daemon;

// The settings record built from a given environment, as smtpd's Program builds it from its own.
public sealed class SmtpdSettingsTests
{
    static SmtpdSettings From(Dictionary<string, string> env, bool privileged = false) =>
        SmtpdSettings.FromEnvironment(name => env.GetValueOrDefault(name), privileged);

    [Fact]
    public void An_empty_environment_gives_the_production_defaults_and_nothing_to_log()
    {
        var s = From(new() { ["XDG_STATE_HOME"] = "/state" });
        Assert.Equal(25, s.MxPort);
        Assert.Equal(2525, s.DefaultPort(privileged: false));
        Assert.Equal(25, s.DefaultPort(privileged: true));
        Assert.Equal(TimeSpan.FromMinutes(5), s.MtaTimeout);
        Assert.Equal(TimeSpan.FromMinutes(5), s.SessionTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), s.TlsHandshakeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(60), s.FilterTimeout);
        Assert.Equal(4L << 20, s.SpoolMinFree);
        Assert.Null(s.DescriptorReserve);
        Assert.Equal("/etc/mail/certs", s.CertificateDirectory);
        Assert.Equal("/usr/libexec/opensmtpd", s.LibexecDirectory);
        Assert.Null(s.Resolver);
        Assert.Null(s.Chaos);
        Assert.Equal("_smtpd", s.User);
        Assert.Equal(new Backends("fs", "ramqueue", "ram"), s.Backends);
        Assert.Equal(new SmtpdPaths("/state/smtpd/spool", "/state/smtpd/smtpd.sock", "/var/mail"), s.Paths);
        Assert.Empty(s.NonDefault);
    }

    [Fact]
    public void Root_uses_the_system_paths()
    {
        Assert.Equal(new SmtpdPaths("/var/spool/smtpd", "/var/run/smtpd.sock", "/var/mail"), From([], privileged: true).Paths);
    }

    [Fact]
    public void Every_variable_is_read_and_each_value_that_changes_something_is_listed_once()
    {
        var s = From(new()
        {
            ["SMTPD_SPOOL"] = "/t/spool", ["SMTPD_SOCKET"] = "/t/sock", ["SMTPD_MAILSPOOL"] = "/t/mail",
            ["SMTPD_PORT"] = "2600", ["SMTPD_MTA_PORT"] = "2700", ["SMTPD_MTA_TIMEOUT"] = "7",
            ["SMTPD_TLS_HANDSHAKE_TIMEOUT"] = "2", ["SMTPD_SESSION_TIMEOUT"] = "3", ["SMTPD_FILTER_TIMEOUT"] = "4",
            ["SMTPD_SPOOL_MINFREE"] = "0", ["SMTPD_FD_RESERVE"] = "40", ["SMTPD_CERTDIR"] = "/t/certs",
            ["SMTPD_LIBEXEC"] = "/t/libexec", ["SMTPD_RESOLVER"] = "127.0.0.1:5353", ["SMTPD_CHAOS"] = "seed=1",
            ["SMTPD_USER"] = "mailer", ["SMTPD_QUEUE_BACKEND"] = "ram", ["SMTPD_SCHEDULER_BACKEND"] = "null", ["SMTPD_STATS"] = "sqlite",
        });
        Assert.Equal(new SmtpdPaths("/t/spool", "/t/sock", "/t/mail"), s.Paths);
        Assert.Equal(2600, s.DefaultPort(privileged: true));
        Assert.Equal(2700, s.MxPort);
        Assert.Equal(TimeSpan.FromSeconds(7), s.MtaTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), s.TlsHandshakeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3), s.SessionTimeout);
        Assert.Equal(TimeSpan.FromSeconds(4), s.FilterTimeout);
        Assert.Equal(0, s.SpoolMinFree);
        Assert.Equal(40, s.DescriptorReserve);
        Assert.Equal("/t/certs", s.CertificateDirectory);
        Assert.Equal("/t/libexec", s.LibexecDirectory);
        Assert.Equal("127.0.0.1:5353", s.Resolver);
        Assert.Equal("seed=1", s.Chaos);
        Assert.Equal("mailer", s.User);
        Assert.Equal(new Backends("ram", "null", "sqlite"), s.Backends);
        Assert.Equal(19, s.NonDefault.Count);
        Assert.Equal(19, s.NonDefault.Distinct().Count());
        Assert.Contains("SMTPD_SPOOL=/t/spool", s.NonDefault);
        Assert.Contains("SMTPD_MTA_PORT=2700", s.NonDefault);
        Assert.Contains("SMTPD_QUEUE_BACKEND=ram", s.NonDefault);
    }

    [Theory]
    [InlineData("SMTPD_PORT", "0")]
    [InlineData("SMTPD_PORT", "70000")]
    [InlineData("SMTPD_MTA_PORT", "x")]
    [InlineData("SMTPD_MTA_TIMEOUT", "-1")]
    [InlineData("SMTPD_SESSION_TIMEOUT", "0")]
    [InlineData("SMTPD_SPOOL_MINFREE", "-5")]
    [InlineData("SMTPD_FD_RESERVE", "many")]
    [InlineData("SMTPD_QUEUE_BACKEND", "disk")]
    [InlineData("SMTPD_MTA_PORT", "25")]
    [InlineData("SMTPD_CERTDIR", "")]
    public void A_value_that_cannot_be_read_or_is_the_default_leaves_the_default_as_it_always_did(string name, string value)
    {
        var s = From(new() { [name] = value, ["XDG_STATE_HOME"] = "/state" });
        Assert.Equal(From(new() { ["XDG_STATE_HOME"] = "/state" }) with { NonDefault = [] }, s with { NonDefault = [] });
        Assert.Empty(s.NonDefault);
    }

    [Fact]
    public void B_wins_over_the_environment_and_is_listed_when_it_changes_a_backend()
    {
        var s = From(new() { ["SMTPD_QUEUE_BACKEND"] = "ram" }).WithBackends(["queue=null,stat=sqlite", "scheduler=null"]);
        Assert.Equal(new Backends("null", "null", "sqlite"), s.Backends);
        Assert.Equal(["SMTPD_QUEUE_BACKEND=ram", "-B queue=null,stat=sqlite", "-B scheduler=null"], s.NonDefault);
        Assert.Empty(From([]).WithBackends(["queue=fs", "scheduler=ramqueue", "stat=ram"]).NonDefault);
    }

    [Theory]
    [InlineData("queue=disk", "invalid backend specifier queue=disk: unknown queue backend 'disk' (fs, ram, null)")]
    [InlineData("scheduler=ram", "invalid backend specifier scheduler=ram: unknown scheduler backend 'ram' (ramqueue, null)")]
    [InlineData("stat=redis", "invalid backend specifier stat=redis: unknown stat backend 'redis' (ram, sqlite)")]
    [InlineData("mta=fast", "invalid backend specifier mta=fast: expected queue=, scheduler= or stat=")]
    [InlineData("queue", "invalid backend specifier queue: unknown queue backend '' (fs, ram, null)")]
    public void An_unknown_backend_is_a_usage_error_naming_the_ones_there_are(string spec, string message)
    {
        var e = Assert.Throws<UsageException>(() => DaemonOptions.Parse(["-B", spec]));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void B_is_parsed_as_getopt_does()
    {
        Assert.Equal(["queue=ram", "stat=sqlite"], DaemonOptions.Parse(["-dBqueue=ram", "-B", "stat=sqlite"]).Backends);
    }

    [Fact]
    public void The_parser_finds_external_table_programs_and_seed_certificates_where_the_settings_say()
    {
        string libexec = Directory.CreateTempSubdirectory("smtpd-libexec-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(libexec, "table-redis"), "#!/bin/sh\n");
            var outside = SmtpdSettings.Default with { LibexecDirectory = libexec, CertificateDirectory = "/t/certs" };
            const string Conf = "table users redis:/etc/redis.conf\naction \"l\" maildir\nmatch from local for local action \"l\"\n";
            var r = ConfigParser.Parse(Conf, "t.conf", outside: outside);
            Assert.Equal(TableBackendKind.Proc, r.Tables["users"].Backend);
            Assert.Equal("/t/certs", r.CertificateDirectory);
            var e = Assert.Throws<ConfigException>(() => ConfigParser.Parse(Conf, "t.conf"));
            Assert.Contains("no /usr/libexec/opensmtpd/table-redis", e.Errors[0].ToString());
        }
        finally { Directory.Delete(libexec, true); }
    }
}
