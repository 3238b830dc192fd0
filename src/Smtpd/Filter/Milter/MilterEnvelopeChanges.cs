namespace Smtpd.Filter.Milter;

/// <summary>
/// What milters asked to change in the envelope at end of message (SMFIR_CHGFROM, ADDRCPT,
/// ADDRCPT_PAR, DELRCPT, QUARANTINE), applied by the session when it commits the message.
/// Addresses are as the milter sent them, angle brackets removed.
/// </summary>
public sealed class MilterEnvelopeChanges
{
    /// <summary>The new sender and its ESMTP parameters, if one was set.</summary>
    public (string Address, IReadOnlyList<string> Parameters)? Sender { get; set; }
    public List<(string Address, IReadOnlyList<string> Parameters)> AddedRecipients { get; } = [];
    public List<string> DeletedRecipients { get; } = [];
    /// <summary>Why the message is to be held in the queue, if a milter quarantined it.</summary>
    public string? Quarantine { get; set; }

    public bool IsEmpty => Sender is null && AddedRecipients.Count == 0 && DeletedRecipients.Count == 0 && Quarantine is null;

    /// <summary>"&lt;a@b&gt;" as "a@b"; the null sender as "".</summary>
    public static string Unbracketed(string address)
    {
        string a = address.Trim();
        return a.Length >= 2 && a[0] == '<' && a[^1] == '>' ? a[1..^1] : a;
    }

    /// <summary>Adds another milter's changes (milters in order: the later one's sender wins).</summary>
    public void Merge(MilterEnvelopeChanges other)
    {
        if (other.Sender is not null) Sender = other.Sender;
        AddedRecipients.AddRange(other.AddedRecipients);
        DeletedRecipients.AddRange(other.DeletedRecipients);
        Quarantine ??= other.Quarantine;
    }
}
