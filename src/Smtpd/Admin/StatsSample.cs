namespace Smtpd.Admin;

/// <summary>One reading of the counters the admin page draws: cumulative counters, and the queue's size then.</summary>
public readonly record struct StatsSample(DateTimeOffset At, long Received, long Ok, long TempFail, long PermFail, long Queue);
