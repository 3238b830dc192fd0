namespace Smtpd.Mta;

/// <summary>What <c>smtpctl show</c> asks of the MTA.</summary>
public enum MtaView { Routes, Hosts, Relays, HostStats }
