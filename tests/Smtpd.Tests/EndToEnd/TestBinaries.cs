using System.Diagnostics;

namespace Smtpd.Tests.EndToEnd;

/// <summary>
/// Which smtpd and smtpctl the tests run. By default the JIT build beside the tests, run as
/// <c>dotnet smtpd.dll</c>; with <c>SMTPD_TEST_BIN=DIR</c>, the executables in DIR: the Native AOT
/// build test.sh publishes, which is what an administrator installs.
/// </summary>
public static class TestBinaries
{
    public const string Variable = "SMTPD_TEST_BIN";

    /// <summary>The directory of the published executables, or null for the JIT build.</summary>
    public static string? PublishedDir { get; } =
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } dir ? Path.GetFullPath(dir) : null;

    public static bool Published => PublishedDir is not null;

    static string Dir => PublishedDir ?? AppContext.BaseDirectory;

    /// <summary>The command line that runs <paramref name="program"/> ("smtpd" or "smtpctl") from <paramref name="dir"/> (default: the tests' binaries).</summary>
    public static string[] Command(string program, string? dir = null) =>
        Published ? [Path.Combine(dir ?? Dir, program)] : ["dotnet", Path.Combine(dir ?? Dir, program + ".dll")];

    /// <summary>A start info for <paramref name="program"/> with <paramref name="args"/>, nothing redirected.</summary>
    public static ProcessStartInfo StartInfo(string program, params IEnumerable<string> args)
    {
        string[] command = Command(program);
        var psi = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (string a in command.Skip(1).Concat(args)) psi.ArgumentList.Add(a);
        return psi;
    }

    /// <summary>Runs <paramref name="program"/> to completion (bounded, as every <see cref="ExternalTool"/> run); returns exit code and output.</summary>
    public static Task<(int Code, string Output)> RunAsync(string program, IEnumerable<string> args)
    {
        string[] command = Command(program);
        return ExternalTool.RunAsync(command[0], [.. command[1..], .. args]);
    }

    /// <summary>
    /// The smtpctl executable itself, for links named sendmail, mailq or makemap (the name decides
    /// the role): the native one, or the JIT build's apphost.
    /// </summary>
    public static string SmtpctlExecutable => Path.Combine(Dir, "smtpctl");

    /// <summary>Copies what smtpd and smtpctl need to run into <paramref name="dir"/> (for a user who cannot read the tests' directory).</summary>
    public static void CopyTo(string dir)
    {
        var files = Published
            ? Directory.GetFiles(Dir).Where(f => !f.EndsWith(".dbg") && !f.EndsWith(".pdb"))
            : Directory.GetFiles(Dir).Where(f => f.EndsWith(".dll") || f.EndsWith(".json") || Path.GetFileName(f) is "smtpd" or "smtpctl");
        foreach (string f in files)
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)), overwrite: true);
    }
}
