using System.Text;
using Smtpd.Ctl;

// smtpctl: the control client (OpenSMTPD's smtpctl(8)). Also sendmail, mailq, makemap and
// newaliases when invoked under those names (a symlink to this program).
Console.OutputEncoding = new UTF8Encoding(false);
string name = InvokedName();
return name switch
{
    "sendmail" or "send-mail" => await SendmailCommand.RunAsync(args),
    "mailq" => await ControlClient.RunAsync(["show", "queue"]),
    "makemap" or "newaliases" => MakemapCommand.Run(name, args),
    _ => args switch
    {
        [] => Usage(),
        ["encrypt", .. var rest] => EncryptCommand.Run(rest),
        ["spf", "walk"] => await SpfWalkCommand.RunAsync(),
        // Needs no daemon, as OpenSMTPD's: a malformed spf command is answered here.
        ["spf", ..] => Possibilities(args),
        ["sendmail" or "enqueue", .. var rest] => await SendmailCommand.RunAsync(rest),
        ["makemap", .. var rest] => MakemapCommand.Run("makemap", rest),
        ["newaliases", .. var rest] => MakemapCommand.Run("newaliases", rest),
        _ => await ControlClient.RunAsync(args),
    },
};

// OpenSMTPD's parser: the words that could come next, on standard error, exit 255.
static int Possibilities(string[] words)
{
    foreach (string line in Smtpd.Control.ControlGrammar.Possibilities(words)) Console.Error.WriteLine(line);
    return 255;
}

static int Usage()
{
    Console.Error.WriteLine("usage: smtpctl command [argument ...]");
    return 1;
}

// argv[0] as the user typed it (a symlink named sendmail keeps its name there).
static string InvokedName()
{
    try
    {
        string cmdline = File.ReadAllText("/proc/self/cmdline");
        string argv0 = Path.GetFileName(cmdline.Split('\0')[0]);
        return argv0 is "dotnet" ? "smtpctl" : argv0;
    }
    catch (IOException) { return "smtpctl"; }
}
