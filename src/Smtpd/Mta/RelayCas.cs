using System.Security.Cryptography.X509Certificates;
using Smtpd.Config;
using Smtpd.Smtp.Tls;

namespace Smtpd.Mta;

/// <summary>
/// The CA certificates that relay actions name (<c>ca NAME cert "FILE"</c> and <c>relay ... ca
/// NAME</c>), read once at start, as listeners read theirs: a file that cannot be used is named
/// by <c>smtpd -n</c> and stops the start (<see cref="TlsSetupException"/>).
/// </summary>
public sealed class RelayCas
{
    readonly Dictionary<string, X509Certificate2Collection> _byName = new(StringComparer.Ordinal);

    /// <param name="files">Where the CA files are read from; null: the disk.</param>
    public static RelayCas Load(Ruleset ruleset, ConfigFiles? files = null)
    {
        files ??= ConfigFiles.Disk;
        var cas = new RelayCas();
        foreach (var action in ruleset.Actions.Values)
            if (action.Ca is { } name && !cas._byName.ContainsKey(name))
                cas._byName[name] = ServerTls.LoadCa(ruleset, name, action.Location, files);
        return cas;
    }

    public X509Certificate2Collection Get(string name) => _byName[name];
}
