// smtpctl: the control client. The control socket and its verbs (show queue, pause, resume,
// schedule, remove, monitor, sendmail, makemap, encrypt) are not built yet; say so plainly
// rather than pretend.
Console.Error.WriteLine("smtpctl: not implemented yet in this version of smtpd for .NET");
return 1;
