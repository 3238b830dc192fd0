namespace Smtpd.Mda;

/// <summary>A user of the system, as getpwnam(3) describes it.</summary>
public sealed record SystemUser(string Name, uint Uid, uint Gid, string Home, string Shell);
