namespace Smtpd.Lookup;

/// <summary>Messages the lookup component receives.</summary>
public abstract record LookupMessage;

/// <summary>
/// Admin (<c>smtpctl update table NAME</c>): read the table again and swap it in; lookups under
/// way finish on the old contents. Fails with the reason (no such table, bad contents, the table
/// cannot be read now), and then the old contents stay.
/// </summary>
public sealed record LookupUpdateTable(string Name, BusReply<bool> Reply) : LookupMessage, IBusRequest
{
    IBusReply? IBusRequest.Reply => Reply;
}
