using System.Net;
using System.Net.Sockets;
using System.Text;
using Smtpd.Control;
using Smtpd.Control.Json;
using Smtpd.Metrics;
using Smtpd.Smtp.Auth;

namespace Smtpd.Admin;

/// <summary>
/// <c>admin listen on</c>: the page at <c>/</c>, its static files and the JSON API, on the small
/// listener the metrics share. Every request needs HTTP Basic credentials the <c>auth</c> table
/// accepts (401 otherwise). The CSRF guard: a POST must carry the <c>X-Smtpd-Admin</c> header,
/// which a form or page of another site cannot send (it would need a CORS preflight, never
/// granted); the page's own script sends it. Password guessing is slowed by <see cref="LoginThrottle"/>.
/// </summary>
public sealed class AdminServer : IDisposable
{
    const string Realm = "Basic realm=\"smtpd admin\", charset=\"UTF-8\"";

    readonly SocketHttpServer _http;
    readonly string _authTable;
    readonly Func<Authenticator> _authenticator;
    readonly ControlViews _views;
    readonly AdminApi _api;
    readonly StatsHistory _history;
    readonly SmtpdLog _log;
    readonly LoginThrottle _throttle;

    /// <param name="authenticator">The configuration in force's (tables are re-read on reload).</param>
    /// <exception cref="SocketException">The address cannot be bound.</exception>
    /// <param name="tls">HTTPS with these handshake options; null: plain HTTP.</param>
    public AdminServer(IPEndPoint at, string authTable, Func<Authenticator> authenticator, ControlViews views, Bus bus, StatsHistory history, SmtpdLog log,
        System.Net.Security.SslServerAuthenticationOptions? tls = null, TimeProvider? time = null)
    {
        _throttle = new LoginThrottle(time ?? TimeProvider.System);
        _authTable = authTable;
        _authenticator = authenticator;
        _views = views;
        _api = new AdminApi(views, bus);
        _history = history;
        _log = log;
        _http = new SocketHttpServer("admin", at, HandleAsync, log) { Tls = tls };
        Scheme = tls is null ? "http" : "https";
    }

    public IPEndPoint EndPoint => _http.EndPoint;
    public string Scheme { get; }

    public Task RunAsync(CancellationToken ct) => _http.RunAsync(ct);

    /// <summary>
    /// On every answer: no framing by another site (its page could trick a click on "remove"),
    /// nothing but our own files run or load, no type sniffing, nothing cached (queue contents).
    /// </summary>
    static readonly string[] Guards =
    [
        "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'; form-action 'self'",
        "X-Frame-Options: DENY",
        "X-Content-Type-Options: nosniff",
        "Cache-Control: no-store",
    ];

    async Task<HttpResponse> HandleAsync(HttpRequestHead head, CancellationToken ct)
    {
        var response = await AnswerAsync(head, ct);
        return response with { Headers = [.. response.Headers ?? [], .. Guards] };
    }

    async Task<HttpResponse> AnswerAsync(HttpRequestHead head, CancellationToken ct)
    {
        if (BasicCredentials.Parse(head.Authorization) is not var (user, password))
            return HttpResponse.Text("401 Unauthorized", "credentials required\n", $"WWW-Authenticate: {Realm}");
        var client = head.Client ?? IPAddress.None;
        if (_throttle.Refused(client) is { } wait)
            return HttpResponse.Text("429 Too Many Requests", "too many failed logins, try again later\n", $"Retry-After: {Math.Ceiling(wait.TotalSeconds)}");
        var (result, problem) = await _authenticator().CheckAsync(_authTable, user, password, ct);
        if (result == AuthResult.TempFail)
        {
            _log.Warn($"admin: cannot check credentials: {problem}");
            return HttpResponse.Text("503 Service Unavailable", "cannot check credentials now\n");
        }
        if (result != AuthResult.Ok)
        {
            _throttle.Failed(client);
            _log.Info($"admin: authentication failed for user {user} from {client}");
            return HttpResponse.Text("401 Unauthorized", "bad credentials\n", $"WWW-Authenticate: {Realm}");
        }
        _throttle.Succeeded(client);
        switch (head.Method)
        {
            case "GET" or "HEAD":
                return await GetAsync(head) ?? HttpResponse.Text("404 Not Found", "not found\n");
            case "POST":
                if (head.AdminHeader is null) return HttpResponse.Text("403 Forbidden", "POST needs the X-Smtpd-Admin header\n");
                var done = await _api.PostAsync(head.Path);
                if (done is not null) _log.Info($"admin: {user}: POST {head.Path}: {done.Status}");
                return done ?? HttpResponse.Text("404 Not Found", "not found\n");
            default:
                return HttpResponse.Text("405 Method Not Allowed", "GET or POST\n");
        }
    }

    async Task<HttpResponse?> GetAsync(HttpRequestHead head)
    {
        if (head.Path.StartsWith("/api/", StringComparison.Ordinal)) return await _api.GetAsync(head.Path, head.Query);
        switch (head.Path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            case []:
                string? search = AdminQuery.Get(head.Query, "q");
                var (routes, now) = await _views.RoutesAsync();
                return Html(AdminPage.Index(_history.Read(), _history.Samples(), await _api.QueueAsync(search), search,
                    routes.Select(r => RouteEntry.From(r, now)).ToList()));
            case ["envelope", var id]:
                if (!ControlCommands.TryId(id, out ulong evpid) || id.Length != 16) return HttpResponse.Text("400 Bad Request", "invalid envelope id\n");
                return await _views.EnvelopeAsync(evpid) is { } e ? Html(AdminPage.Envelope(e)) : HttpResponse.Text("404 Not Found", "no such envelope\n");
            case ["static", var name]:
                return StaticFile(name);
            default:
                return null;
        }
    }

    static HttpResponse Html(string page) => new("200 OK", "text/html; charset=utf-8", Encoding.UTF8.GetBytes(page));

    static HttpResponse? StaticFile(string name)
    {
        string? type = Path.GetExtension(name) switch { ".css" => "text/css", ".js" => "text/javascript", _ => null };
        using var stream = type is null ? null : typeof(AdminServer).Assembly.GetManifestResourceStream("admin/" + name);
        if (stream is null) return null;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return new HttpResponse("200 OK", type + "; charset=utf-8", copy.ToArray());
    }

    public void Dispose() => _http.Dispose();
}
