namespace Smtpd.Table;

/// <summary>The service names of OpenSMTPD's table protocol and table-sqlite's query_* keys.</summary>
public static class TableServiceNames
{
    public static string Of(TableService s) => s switch
    {
        TableService.Alias => "alias",
        TableService.Domain => "domain",
        TableService.Credentials => "credentials",
        TableService.NetAddr => "netaddr",
        TableService.UserInfo => "userinfo",
        TableService.Source => "source",
        TableService.MailAddr => "mailaddr",
        TableService.AddrName => "addrname",
        TableService.MailAddrMap => "mailaddrmap",
        TableService.RelayHost => "relayhost",
        TableService.TlsPolicy => "tlspolicy",
        TableService.Virtual => "alias", // virtual mappings are alias lookups in OpenSMTPD
        _ => s.ToString().ToLowerInvariant(),
    };
}
