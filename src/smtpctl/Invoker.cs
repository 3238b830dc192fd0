using Smtpd.Mda;

namespace Smtpd.Ctl;

/// <summary>Who runs sendmail: the system says (getpwuid), not the command line.</summary>
public static class Invoker
{
    public static string UserName => SystemUsers.Current().Name;

    /// <summary>Root may claim any sender (-f); everyone else sends as themselves.</summary>
    public static bool IsTrusted => SystemUsers.IsRoot;
}
