using Smtpd.Ctl;

// smtpctl: the control client. Verbs that need the control socket (show, pause, resume,
// schedule, remove, monitor) are not built yet; say so plainly rather than pretend.
return args switch
{
    ["encrypt", .. var rest] => EncryptCommand.Run(rest),
    _ => NotYet(),
};

static int NotYet()
{
    Console.Error.WriteLine("smtpctl: not implemented yet in this version of smtpd for .NET");
    return 1;
}
