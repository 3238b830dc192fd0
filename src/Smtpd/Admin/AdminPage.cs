using System.Net;
using System.Text;
using Smtpd.Control.Json;

namespace Smtpd.Admin;

/// <summary>
/// The administrator's page, rendered by the server: the totals and graphs of the statistics
/// history, the queue (searchable, with the actions of smtpctl behind a confirmation), and the
/// MTA's routes with their penalties; and one envelope's detail with its last error.
/// </summary>
internal static class AdminPage
{
    static string H(string? s) => WebUtility.HtmlEncode(s ?? "");

    public static string Index(StatsSample now, IReadOnlyList<StatsSample> history, IReadOnlyList<QueueEntry> queue, string? search, IReadOnlyList<RouteEntry> routes)
    {
        var page = new StringBuilder(Head("smtpd"));
        page.Append("<h1>smtpd</h1><section id=\"totals\"><h2>Totals</h2><dl>");
        page.Append($"<dt>messages received</dt><dd id=\"received\">{now.Received}</dd>");
        page.Append($"<dt>delivered</dt><dd id=\"delivered\">{now.Ok}</dd>");
        page.Append($"<dt>temporary failures</dt><dd id=\"tempfail\">{now.TempFail}</dd>");
        page.Append($"<dt>permanent failures</dt><dd id=\"permfail\">{now.PermFail}</dd>");
        page.Append($"<dt>in queue</dt><dd id=\"queued\">{now.Queue}</dd></dl></section>");
        Graphs(page, [.. history, now]);
        page.Append("<section id=\"queue\"><h2>Queue</h2><form method=\"get\" action=\"/\">");
        page.Append($"<input type=\"search\" name=\"q\" id=\"search\" placeholder=\"sender, recipient or domain\" value=\"{H(search)}\"> <button type=\"submit\">Search</button></form>");
        page.Append("<table><thead><tr><th>envelope</th><th>sender</th><th>recipient</th><th>state</th><th>retries</th><th>last error</th><th></th></tr></thead><tbody>");
        foreach (var e in queue)
        {
            page.Append($"<tr data-id=\"{e.Id}\"><td><a href=\"/envelope/{e.Id}\">{e.Id}</a></td><td>{H(e.Sender)}</td><td>{H(e.Rcpt)}</td>");
            page.Append($"<td>{H(e.State)}{(e.Flags.Contains("suspend") ? " (paused)" : "")}</td><td>{e.Retry}</td><td>{H(e.LastError)}</td><td>");
            page.Append(Actions(e.Id, e.Flags.Contains("suspend")));
            page.Append("</td></tr>");
        }
        page.Append($"</tbody></table><p id=\"queue-count\">{queue.Count} envelope(s)</p></section>");
        page.Append("<section id=\"routes\"><h2>Routes</h2><table><thead><tr><th>route</th><th>domain</th><th>connections</th><th>errors</th><th>penalty</th><th>usable at</th></tr></thead><tbody>");
        foreach (var r in routes)
            page.Append($"<tr><td>{H(r.Address ?? r.Kind)}</td><td>{H(r.Domain)}</td><td>{r.Connections}</td><td>{r.Errors}</td><td>{r.Penalty}</td><td>{H(r.UsableAtIso)}</td></tr>");
        page.Append("</tbody></table></section>");
        return page.Append(Foot).ToString();
    }

    public static string Envelope(EnvelopeDetail e)
    {
        var page = new StringBuilder(Head($"envelope {e.Id}"));
        page.Append($"<p><a href=\"/\">← queue</a></p><h1>Envelope {e.Id}</h1>");
        page.Append($"<p id=\"last-error\">last error: {H(e.LastError ?? "none")}</p><dl>");
        foreach (var (k, v) in new (string, string?)[]
        {
            ("message", e.Msgid), ("type", e.Type), ("sender", e.Sender), ("recipient", e.Rcpt), ("destination", e.Dest),
            ("from host", e.Hostname), ("helo", e.Helo), ("created", e.CtimeIso), ("expires", e.ExpireIso),
            ("last try", e.LastTryIso), ("retries", e.Retry.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        })
            page.Append($"<dt>{k}</dt><dd>{H(v)}</dd>");
        page.Append("</dl>").Append(Actions(e.Id, false));
        return page.Append(Foot).ToString();
    }

    static string Actions(string id, bool paused) =>
        $"<button data-action=\"schedule\" data-id=\"{id}\">schedule</button> " +
        (paused ? $"<button data-action=\"resume\" data-id=\"{id}\">resume</button> " : $"<button data-action=\"pause\" data-id=\"{id}\">pause</button> ") +
        $"<button data-action=\"remove\" data-id=\"{id}\" class=\"danger\">remove</button>";

    static void Graphs(StringBuilder page, IReadOnlyList<StatsSample> s)
    {
        var at = s.Skip(1).Select(x => x.At).ToList();
        List<long> Delta(Func<StatsSample, long> f) => s.Zip(s.Skip(1), (a, b) => Math.Max(0, f(b) - f(a))).ToList();
        page.Append("<section id=\"graphs\"><h2>Last hours</h2>");
        page.Append(SvgChart.Render("graph-messages", "Messages per interval", at,
            ("in", "#2b6cb0", Delta(x => x.Received)), ("out", "#2f855a", Delta(x => x.Ok))));
        page.Append(SvgChart.Render("graph-queue", "Queue size", s.Select(x => x.At).ToList(), ("queue", "#805ad5", s.Select(x => x.Queue).ToList())));
        page.Append(SvgChart.Render("graph-deliveries", "Deliveries by result", at,
            ("ok", "#2f855a", Delta(x => x.Ok)), ("tempfail", "#d69e2e", Delta(x => x.TempFail)), ("permfail", "#c53030", Delta(x => x.PermFail))));
        page.Append("</section>");
    }

    static string Head(string title) =>
        $"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{H(title)}</title><link rel=\"stylesheet\" href=\"/static/admin.css\"></head><body>";

    const string Foot = "<script src=\"/static/admin.js\"></script></body></html>";
}
