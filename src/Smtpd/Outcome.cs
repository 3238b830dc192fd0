namespace Smtpd;

/// <summary>The result of any operation that can fail temporarily or for good.</summary>
public enum OutcomeKind { Ok, TempFail, PermFail }

/// <summary>An outcome with the text that explains it (an SMTP reply, an error line).</summary>
public readonly record struct Outcome(OutcomeKind Kind, string Text)
{
    public static Outcome Ok(string text = "Ok") => new(OutcomeKind.Ok, text);
    public static Outcome TempFail(string text) => new(OutcomeKind.TempFail, text);
    public static Outcome PermFail(string text) => new(OutcomeKind.PermFail, text);

    public bool IsOk => Kind == OutcomeKind.Ok;

    /// <summary>The word OpenSMTPD logs in <c>result=</c>.</summary>
    public string ResultWord => Kind switch
    {
        OutcomeKind.Ok => "Ok",
        OutcomeKind.TempFail => "TempFail",
        _ => "PermFail",
    };
}
