using Smtpd.Config;
using Smtpd.Smtp;
using Smtpd.Smtp.Tls;
using Smtpd.Table;

namespace Smtpd.Reload;

/// <summary>
/// A configuration read and checked as <c>smtpd -n</c> checks it: the file compiled, every table
/// opened and its entries checked against their uses, the listeners' certificates and keys and
/// the relay CAs loaded, DKIM keys read. The start, <c>smtpd -n</c> and a reload all go through
/// <see cref="Load"/>, so that a reload refuses exactly what a start would.
/// </summary>
/// <param name="Unsupported">Valid statements this version cannot do yet: warnings for <c>-n</c>,
/// errors for a start or a reload.</param>
public sealed record CheckedConfig(Ruleset Ruleset, IReadOnlyList<ListenerSetup> Listeners, Mta.RelayCas RelayCas,
    IReadOnlyList<ConfigError> Unsupported)
{
    /// <summary><c>admin listen on ... tls pki NAME</c>: that pki's certificate, loaded with the listeners'; else null.</summary>
    public SslCertificate? AdminCertificate { get; init; }

    /// <summary>Where it was read from: the filters built for it read their DKIM keys there too.</summary>
    public ConfigFiles Files { get; init; } = ConfigFiles.Disk;

    /// <summary>The default file when no <c>-f</c> is given.</summary>
    public const string DefaultFile = "/etc/smtpd.conf";

    /// <param name="file">The <c>-f</c> file, or null: /etc/smtpd.conf if it exists, else the embedded default.</param>
    /// <param name="files">Where smtpd.conf, its includes, certificates, keys, CAs and DKIM keys are read
    /// from; null: the disk. Tables are always read from the disk.</param>
    /// <exception cref="ConfigException">Anything wrong, every problem as file:line: message.</exception>
    public static CheckedConfig Load(string? file, IReadOnlyDictionary<string, string> macros, bool privileged, SmtpdSettings settings,
        ConfigFiles? files = null)
    {
        files ??= ConfigFiles.Disk;
        var ruleset = Parse(file, macros, privileged, settings, files);
        CheckTables(ruleset);
        try
        {
            var listeners = ListenerSetup.LoadAll(ruleset, files); // reads certificates and keys: a bad one is named now
            var cas = Mta.RelayCas.Load(ruleset, files);           // and the CAs relay actions verify their peers with
            CheckFilters(ruleset, files);                    // and DKIM keys
            var admin = LoadAdminCertificate(ruleset, files);      // and the admin page's certificate
            return new CheckedConfig(ruleset, listeners, cas, RulesetSupport.Unsupported(ruleset)) { Files = files, AdminCertificate = admin };
        }
        catch (TlsSetupException ex)
        {
            throw new ConfigException([new ConfigError(ex.Location, ex.Message)]);
        }
    }

    static SslCertificate? LoadAdminCertificate(Ruleset ruleset, ConfigFiles files)
    {
        if (ruleset.Admin is not { Pki: { } name } admin) return null;
        var pki = ruleset.Pkis[name];
        if (pki.CertificateFile is null || pki.KeyFile is null)
            throw new TlsSetupException(admin.Location, $"admin listen on: pki {name} needs a certificate and a key");
        return CertificateLoader.Load(pki.CertificateFile, pki.KeyFile, pki.Location, files);
    }

    static Ruleset Parse(string? file, IReadOnlyDictionary<string, string> macros, bool privileged, SmtpdSettings settings, ConfigFiles files)
    {
        // No file at all (and none asked for): run the seed's minimalist setup.
        if (file is null && !files.Exists(DefaultFile))
            return ConfigParser.Parse(DefaultConfig.Text(privileged), "(default)", macros, settings, files);
        file ??= DefaultFile;
        if (!files.Exists(file))
            throw new ConfigException([new ConfigError(new ConfigLocation(file, 0), "cannot open configuration file")]);
        return ConfigParser.ParseFile(file, macros, settings, files);
    }

    /// <summary>
    /// Opens every table (files, database and directory configurations, no connection yet) and
    /// checks the entries of those read whole against their uses: a missing or bad one is an
    /// error at the line that declares it, and a bad entry also names its own file:line.
    /// </summary>
    static void CheckTables(Ruleset ruleset)
    {
        var errors = new List<ConfigError>();
        foreach (var (table, error) in TableSet.Verify(ruleset))
        {
            if (error is TableContentException content) errors.AddRange(content.Problems.Select(p => new ConfigError(table.Location, p)));
            else errors.Add(new ConfigError(table.Location, error.Message));
        }
        if (errors.Count > 0) throw new ConfigException(errors);
    }

    /// <summary>Each filter's own check (a DKIM signer's key), named at its declaration.</summary>
    static void CheckFilters(Ruleset ruleset, ConfigFiles files)
    {
        var errors = new List<ConfigError>();
        foreach (var filter in ruleset.Filters.Values)
        {
            try { Filter.FilterHost.Check(ruleset with { Filters = new Dictionary<string, FilterConfig> { [filter.Name] = filter } }, files); }
            catch (Filter.FilterException ex) { errors.Add(new ConfigError(filter.Location, ex.Message)); }
        }
        if (errors.Count > 0) throw new ConfigException(errors);
    }
}
