using System.Text.Json;

namespace Smtpd.Mta.TlsPolicy.Rpt;

/// <summary>
/// The day's TLS-RPT counts kept in the spool (<c>SPOOL/tls-rpt.json</c>), so that a stop or a
/// restart does not lose them: the reporter writes them every few minutes and when smtpd stops,
/// and reads them back at start (counts of the period under way join the new ones; those of a
/// period that ended while smtpd was down are reported at once). Written whole to a temporary
/// file and renamed over the old one: a crash leaves one or the other. A file that cannot be
/// read is set aside (renamed <c>.bad</c>), never a reason not to start.
/// </summary>
public static class TlsRptState
{
    public static void Save(string path, DateTimeOffset start, DateTimeOffset end, IReadOnlyList<TlsRptRecorder.PolicyRecord> records)
    {
        string tmp = path + ".tmp";
        using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 0))
        using (var json = new Utf8JsonWriter(file))
        {
            json.WriteStartObject();
            json.WriteNumber("start", start.ToUnixTimeSeconds());
            json.WriteNumber("end", end.ToUnixTimeSeconds());
            json.WriteStartArray("records");
            foreach (var r in records)
            {
                json.WriteStartObject();
                json.WriteString("domain", r.Domain);
                json.WriteString("type", r.Type);
                Strings(json, "strings", r.Strings);
                Strings(json, "mx", r.MxHosts);
                json.WriteNumber("successes", r.Successes);
                json.WriteStartArray("failures");
                foreach (var (f, count) in r.Failures)
                {
                    json.WriteStartObject();
                    json.WriteString("result", f.ResultType);
                    json.WriteString("sending-ip", f.SendingIp);
                    json.WriteString("mx-host", f.MxHost);
                    json.WriteString("receiving-ip", f.ReceivingIp);
                    json.WriteString("reason", f.Reason);
                    json.WriteNumber("count", count);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
            // On disk before it replaces the old file: a crash then leaves one or the other whole,
            // never a renamed file whose text had not been written yet.
            json.Flush();
            file.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The saved period; null when there is none (or it was unreadable and set aside).</summary>
    public static TlsRptRecorder.Period? Load(string path, SmtpdLog log)
    {
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            var records = new List<TlsRptRecorder.PolicyRecord>();
            foreach (var r in root.GetProperty("records").EnumerateArray())
            {
                var record = new TlsRptRecorder.PolicyRecord(Required(r, "domain"), Required(r, "type"), Strings(r, "strings"), Strings(r, "mx"))
                {
                    Successes = r.GetProperty("successes").GetInt64(),
                };
                foreach (var f in r.GetProperty("failures").EnumerateArray())
                {
                    var key = new TlsRptRecorder.FailureKey(Required(f, "result"), Text(f, "sending-ip"), Text(f, "mx-host"), Text(f, "receiving-ip"), Text(f, "reason"));
                    record.Failures[key] = record.Failures.GetValueOrDefault(key) + f.GetProperty("count").GetInt64();
                }
                records.Add(record);
            }
            return new TlsRptRecorder.Period(DateTimeOffset.FromUnixTimeSeconds(root.GetProperty("start").GetInt64()),
                DateTimeOffset.FromUnixTimeSeconds(root.GetProperty("end").GetInt64()), records);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException
                                       or ArgumentNullException or IOException or UnauthorizedAccessException)
        {
            log.Warn($"tls-rpt: {path} cannot be read ({ex.GetType().Name}: {SystemErrors.Describe(ex)}); set aside as {path}.bad, its counts not reported");
            try { File.Move(path, path + ".bad", overwrite: true); } catch (IOException) { }
            return null;
        }
    }

    static void Strings(Utf8JsonWriter json, string name, IReadOnlyList<string> values)
    {
        json.WriteStartArray(name);
        foreach (string v in values) json.WriteStringValue(v);
        json.WriteEndArray();
    }

    static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    static string Required(JsonElement e, string name) => Text(e, name) ?? throw new FormatException($"{name} missing");

    static string[] Strings(JsonElement e, string name) =>
        [.. e.GetProperty(name).EnumerateArray().Select(v => v.GetString() ?? throw new FormatException($"{name}: not a string"))];
}
