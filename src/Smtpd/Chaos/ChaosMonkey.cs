using System.Collections.Concurrent;
using System.Globalization;

namespace Smtpd.Chaos;

/// <summary>
/// Seed 001's "monkey": at strategic points (messages between components, queue and table
/// operations, DNS answers, deliveries) it makes the daemon randomly slow down or fail
/// temporarily. The rule it proves: with the monkey on, no client and no sender ever gets a
/// 5xx it would not get without it, and no mail is lost or delivered twice.
///
/// Off unless <c>-T chaos</c> or <c>SMTPD_CHAOS</c> asks for it, and refused on the system
/// spool (see <see cref="Refusal"/>), so a production server cannot run it by accident.
/// Each decision is a hash of the seed, the point and how many times that point was reached:
/// the same seed and the same sequence of operations at a point give the same faults.
/// </summary>
public sealed class ChaosMonkey
{
    readonly ConcurrentDictionary<string, long> _visits = new(StringComparer.Ordinal);
    long _failures, _delays;

    public ChaosMonkey(ChaosSettings settings) => Settings = settings;

    public ChaosSettings Settings { get; }
    public long Failures => Interlocked.Read(ref _failures);
    public long Delays => Interlocked.Read(ref _delays);

    /// <summary>Told of each failure injected, for the log (so a test can count them).</summary>
    public Action<string>? OnFailure { get; set; }

    /// <summary>
    /// Chaos asked for by <c>-T chaos</c> (<paramref name="flag"/>) or <c>SMTPD_CHAOS</c>
    /// (<c>seed=N,fail=P,delay=P,max-delay=DURATION,throw=POINT</c>, every part optional); null when off.
    /// </summary>
    /// <param name="setting">SMTPD_CHAOS (<see cref="SmtpdSettings.Chaos"/>).</param>
    /// <exception cref="FormatException"><c>SMTPD_CHAOS</c> cannot be read.</exception>
    public static ChaosMonkey? FromSetting(bool flag, string? setting)
    {
        if (!flag && string.IsNullOrEmpty(setting)) return null;
        return new ChaosMonkey(ChaosSettings.Parse(setting ?? ""));
    }

    /// <summary>Why chaos may not run on this spool, or null. The system spool is production's.</summary>
    public static string? Refusal(string spool) =>
        Path.GetFullPath(spool).TrimEnd('/') == SystemSpool
            ? $"chaos mode is for test instances: refusing to inject faults into the system spool {SystemSpool} (set SMTPD_SPOOL)"
            : null;

    public const string SystemSpool = "/var/spool/smtpd";

    /// <summary>True when the operation at <paramref name="point"/> is to fail this time.</summary>
    public bool Fails(string point)
    {
        if (!Roll(point, "fail", Settings.FailRate, out _)) return false;
        Interlocked.Increment(ref _failures);
        OnFailure?.Invoke(point);
        return true;
    }

    /// <summary>How long to hold the operation at <paramref name="point"/> (mostly zero).</summary>
    public TimeSpan Delay(string point)
    {
        if (!Roll(point, "delay", Settings.DelayRate, out ulong hash)) return TimeSpan.Zero;
        Interlocked.Increment(ref _delays);
        return TimeSpan.FromTicks((long)(hash % (ulong)Math.Max(1, Settings.MaxDelay.Ticks)));
    }

    /// <summary>
    /// Throws an unexpected exception (not an I/O error) at <paramref name="point"/> when
    /// <c>throw=POINT</c> asks for it: proves that no component leaves work silently unfinished.
    /// </summary>
    /// <exception cref="InvalidOperationException">Asked for at this point.</exception>
    public void ThrowIfAsked(string point)
    {
        if (!Settings.ThrowAt.Contains(point)) return;
        Interlocked.Increment(ref _failures);
        OnFailure?.Invoke(point);
        throw new InvalidOperationException($"chaos: injected exception at {point}");
    }

    public Task PauseAsync(string point, CancellationToken ct = default)
    {
        var delay = Delay(point);
        return delay > TimeSpan.Zero ? Task.Delay(delay, ct) : Task.CompletedTask;
    }

    /// <summary>For synchronous operations (queue backend calls).</summary>
    public void Pause(string point)
    {
        var delay = Delay(point);
        if (delay > TimeSpan.Zero) Thread.Sleep(delay);
    }

    bool Roll(string point, string kind, double rate, out ulong hash)
    {
        hash = 0;
        if (rate <= 0) return false;
        string key = point + "/" + kind;
        long visit = _visits.AddOrUpdate(key, 1, (_, n) => n + 1);
        hash = Mix(Settings.Seed ^ StableHash(key) ^ ((ulong)visit * 0x9E3779B97F4A7C15UL));
        double uniform = (Mix(hash) >> 11) * (1.0 / (1UL << 53));
        return uniform < rate;
    }

    // SplitMix64's finalizer: a good spread from a cheap integer mix.
    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    // string.GetHashCode differs between runs; FNV-1a does not.
    static ulong StableHash(string s)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (char c in s) { h ^= c; h *= 0x100000001B3UL; }
        return h;
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"seed={Settings.Seed} fail={Settings.FailRate} delay={Settings.DelayRate} max-delay={(long)Settings.MaxDelay.TotalMilliseconds}ms{(Settings.ThrowAt.Count > 0 ? " throw=" + string.Join('+', Settings.ThrowAt) : "")}");
}

/// <summary>
/// How often the monkey strikes. Defaults: 5 % of operations fail, 10 % wait up to 50 ms.
/// <c>throw=POINT[+POINT]</c> makes those points throw an unexpected exception every time.
/// </summary>
public sealed record ChaosSettings(ulong Seed, double FailRate, double DelayRate, TimeSpan MaxDelay)
{
    /// <summary>Points that throw an unexpected exception every time (<see cref="ChaosMonkey.ThrowIfAsked"/>).</summary>
    public IReadOnlySet<string> ThrowAt { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <exception cref="FormatException">An unknown part or a bad value.</exception>
    public static ChaosSettings Parse(string text)
    {
        var s = new ChaosSettings((ulong)Random.Shared.NextInt64(), 0.05, 0.10, TimeSpan.FromMilliseconds(50));
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=');
            string name = eq < 0 ? part : part[..eq], value = eq < 0 ? "" : part[(eq + 1)..];
            s = name switch
            {
                "on" or "1" when eq < 0 => s,
                "seed" => s with { Seed = ulong.Parse(value, CultureInfo.InvariantCulture) },
                "fail" => s with { FailRate = Rate(name, value) },
                "delay" => s with { DelayRate = Rate(name, value) },
                "max-delay" => s with { MaxDelay = Milliseconds(value) },
                "throw" => s with { ThrowAt = new HashSet<string>(value.Split('+', StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal) },
                _ => throw new FormatException($"SMTPD_CHAOS: unknown setting '{part}' (seed=N, fail=P, delay=P, max-delay=50ms, throw=POINT)"),
            };
        }
        return s;
    }

    /// <summary>"50ms", "2s" or a bare number of milliseconds.</summary>
    static TimeSpan Milliseconds(string value)
    {
        double scale = value.EndsWith("ms", StringComparison.Ordinal) ? 1 : value.EndsWith('s') ? 1000 : 1;
        string number = value.TrimEnd('m', 's');
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) && n >= 0
            ? TimeSpan.FromMilliseconds(n * scale) : throw new FormatException($"SMTPD_CHAOS: bad max-delay '{value}' (e.g. 50ms, 2s)");
    }

    static double Rate(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double p) && p is >= 0 and <= 1
            ? p : throw new FormatException($"SMTPD_CHAOS: {name} must be a probability between 0 and 1, not '{value}'");
}
