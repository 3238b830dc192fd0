using System.Globalization;
using System.IO.Compression;
using System.Text.Json;

namespace Smtpd.Mta.TlsPolicy.Rpt;

/// <summary>
/// One aggregate report for one policy domain, in RFC 8460 4's JSON: organization-name,
/// date-range, contact-info, report-id, then per policy its type, strings, domain and MX hosts,
/// the summary counts and the failure details. Sent gzip-compressed (4.5).
/// </summary>
public static class TlsRptReport
{
    public static byte[] Json(string organization, string contact, string reportId, DateTimeOffset start, DateTimeOffset end, IEnumerable<TlsRptRecorder.PolicyRecord> records)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("organization-name", organization);
            json.WriteStartObject("date-range");
            json.WriteString("start-datetime", Time(start));
            json.WriteString("end-datetime", Time(end));
            json.WriteEndObject();
            json.WriteString("contact-info", contact);
            json.WriteString("report-id", reportId);
            json.WriteStartArray("policies");
            foreach (var record in records) WritePolicy(json, record);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    static void WritePolicy(Utf8JsonWriter json, TlsRptRecorder.PolicyRecord record)
    {
        json.WriteStartObject();
        json.WriteStartObject("policy");
        json.WriteString("policy-type", record.Type);
        if (record.Type != "no-policy-found")
        {
            json.WriteStartArray("policy-string");
            foreach (string line in record.Strings) json.WriteStringValue(line);
            json.WriteEndArray();
        }
        json.WriteString("policy-domain", record.Domain);
        if (record.Type != "no-policy-found")
        {
            json.WriteStartArray("mx-host");
            foreach (string host in record.MxHosts) json.WriteStringValue(host);
            json.WriteEndArray();
        }
        json.WriteEndObject();
        json.WriteStartObject("summary");
        json.WriteNumber("total-successful-session-count", record.Successes);
        json.WriteNumber("total-failure-session-count", record.Failures.Values.Sum());
        json.WriteEndObject();
        json.WriteStartArray("failure-details");
        foreach (var (failure, count) in record.Failures)
        {
            json.WriteStartObject();
            json.WriteString("result-type", failure.ResultType);
            if (failure.SendingIp is { } sending) json.WriteString("sending-mta-ip", sending);
            if (failure.ReceivingIp is { } receiving) json.WriteString("receiving-ip", receiving);
            if (failure.MxHost is { } mx) json.WriteString("receiving-mx-hostname", mx);
            json.WriteNumber("failed-session-count", count);
            if (failure.Reason is { } reason) json.WriteString("failure-reason-code", reason);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static byte[] Gzip(byte[] json)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Optimal)) gzip.Write(json);
        return buffer.ToArray();
    }
}
