using System.Text;
using Xunit.Abstractions;

namespace Smtpd.Tests.SideBySide;

/// <summary>
/// The checks of one side-by-side scenario: each observation (a reply, a header, a file mode, a
/// queue field) is recorded under a name with what each server showed. <see cref="AssertAll"/>
/// prints every check and their count ("side-by-side: N checks compared") and fails listing
/// every mismatch at once, so one run shows all of a scenario's deviations, not the first.
/// Deviations kept on purpose are recorded with <see cref="Deviation"/>: our side is asserted
/// as docs/DEVIATIONS.md says, theirs is only shown.
/// </summary>
public sealed class Comparison(ITestOutputHelper output, string scenario)
{
    readonly List<string> _lines = [];
    readonly List<string> _mismatches = [];
    readonly List<string> _pending = [];

    public int Count { get; private set; }

    /// <summary>The same observation on both servers must be equal (after whatever normalisation the caller applied).</summary>
    public void Same(string name, string? ours, string? theirs)
    {
        Count++;
        if (string.Equals(ours, theirs, StringComparison.Ordinal)) { _lines.Add($"  same  {name}: {Show(ours)}"); return; }
        string line = $"{name}:\n      ours:   {Show(ours)}\n      theirs: {Show(theirs)}";
        _lines.Add("  DIFF  " + line);
        _mismatches.Add(line);
    }

    public void Same(string name, bool ours, bool theirs) => Same(name, ours.ToString(), theirs.ToString());
    public void Same(string name, int ours, int theirs) => Same(name, ours.ToString(), theirs.ToString());

    /// <summary>Both servers' replies have the same code and enhanced code (see <see cref="SmtpReply"/>).</summary>
    public void SameReply(string name, string ours, string theirs)
    {
        Same(name, SmtpReply.Codes(ours), SmtpReply.Codes(theirs));
    }

    /// <summary>
    /// One observation by the scenario's lists: a deviation kept on purpose (our side asserted),
    /// one found and not fixed yet (pending), else the same on both servers.
    /// </summary>
    public void Observe(string name, string? ours, string? theirs,
        IReadOnlyDictionary<string, (string Ours, string Why)> kept, IReadOnlyDictionary<string, string> pending)
    {
        if (kept.TryGetValue(name, out var k)) Deviation($"{name} [{k.Why}]", ours, k.Ours, theirs);
        else if (pending.TryGetValue(name, out var note)) Pending(name, ours, theirs, note);
        else Same(name, ours, theirs);
    }

    /// <summary>Every observation both servers' runs produced, by name (a name missing on one side is compared with null).</summary>
    public void ObserveAll(IReadOnlyDictionary<string, string?> ours, IReadOnlyDictionary<string, string?> theirs,
        IReadOnlyDictionary<string, (string Ours, string Why)> kept, IReadOnlyDictionary<string, string> pending)
    {
        foreach (var key in ours.Keys.Union(theirs.Keys).Order(StringComparer.Ordinal))
            Observe(key, ours.GetValueOrDefault(key), theirs.GetValueOrDefault(key), kept, pending);
    }

    /// <summary>A deviation kept on purpose (docs/DEVIATIONS.md): our side must be <paramref name="ourExpected"/>; theirs is shown for the record.</summary>
    public void Deviation(string name, string? ours, string ourExpected, string? theirs)
    {
        Count++;
        if (string.Equals(ours, ourExpected, StringComparison.Ordinal))
        {
            _lines.Add($"  kept  {name}: ours {Show(ours)} (deviation), theirs {Show(theirs)}");
            return;
        }
        string line = $"{name} (deviation: ours should be {Show(ourExpected)}):\n      ours:   {Show(ours)}\n      theirs: {Show(theirs)}";
        _lines.Add("  DIFF  " + line);
        _mismatches.Add(line);
    }

    /// <summary>
    /// A deviation this suite found that is reported and not fixed yet (its owner and reason in
    /// <paramref name="note"/>, and in docs/DEVIATIONS.md): it does not fail the scenario while
    /// the servers differ, it is printed as PENDING; once they agree it fails, so that it is turned
    /// into <see cref="Same(string, string?, string?)"/>.
    /// </summary>
    public void Pending(string name, string? ours, string? theirs, string note)
    {
        Count++;
        if (!string.Equals(ours, theirs, StringComparison.Ordinal))
        {
            _pending.Add(name);
            _lines.Add($"  PENDING {name} ({note}):\n      ours:   {Show(ours)}\n      theirs: {Show(theirs)}");
            return;
        }
        string line = $"{name}: now the same ({Show(ours)}); make it a Same check ({note})";
        _lines.Add("  DIFF  " + line);
        _mismatches.Add(line);
    }

    static string Show(string? s) => s is null ? "(none)" : s.Length > 400 ? s[..400].ReplaceLineEndings("⏎") + "…" : s.ReplaceLineEndings("⏎");

    /// <summary>Prints every check and fails with the list of mismatches, if any.</summary>
    public void AssertAll()
    {
        var report = new StringBuilder();
        report.AppendLine($"side-by-side: {Count} checks compared ({scenario}), {_mismatches.Count} mismatched, {_pending.Count} pending (reported deviations)");
        foreach (var l in _lines) report.AppendLine(l);
        output.WriteLine(report.ToString());
        Assert.True(Count > 0, $"{scenario}: no check was compared");
        if (_mismatches.Count > 0)
            Assert.Fail($"{scenario}: {_mismatches.Count} of {Count} checks differ from OpenSMTPD 6.8:\n  " + string.Join("\n  ", _mismatches));
    }
}
