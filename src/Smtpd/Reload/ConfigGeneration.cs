using Smtpd.Config;
using Smtpd.Lookup;
using Smtpd.Table;

namespace Smtpd.Reload;

/// <summary>
/// One loaded configuration and what is built from it: its tables, its recipient resolution, its
/// authentication and its filters. The daemon starts with generation 1; each successful reload
/// makes the next. Sessions keep the generation they started under until they end; its filters
/// and tables are closed once it is no longer current and nothing uses it any more.
/// </summary>
public sealed class ConfigGeneration
{
    readonly object _lock = new();
    int _sessions;
    bool _retired, _pinned, _closed;

    public ConfigGeneration(int number, CheckedConfig config, TableSet tables, RecipientResolver recipients,
        Smtp.Auth.Authenticator authenticator, Filter.FilterHost? filters)
    {
        Number = number;
        Config = config;
        Tables = tables;
        Recipients = recipients;
        Authenticator = authenticator;
        Filters = filters;
    }

    public int Number { get; }
    public CheckedConfig Config { get; }
    public Ruleset Ruleset => Config.Ruleset;
    public TableSet Tables { get; }
    public RecipientResolver Recipients { get; }
    public Smtp.Auth.Authenticator Authenticator { get; }
    /// <summary>The filter processes of this configuration; null when it declares none.</summary>
    public Filter.FilterHost? Filters { get; }

    /// <summary>
    /// A session starts under this generation; it ends with <see cref="Leave"/>. False when the
    /// generation was retired and closed meanwhile: the caller takes the current one instead.
    /// </summary>
    public bool TryEnter()
    {
        lock (_lock)
        {
            if (_closed) return false;
            _sessions++;
            return true;
        }
    }

    /// <summary>A session that started under this generation has ended.</summary>
    public ValueTask Leave()
    {
        lock (_lock)
        {
            _sessions--;
            if (!CanClose()) return ValueTask.CompletedTask;
        }
        return CloseAsync();
    }

    /// <summary>
    /// A reload replaced this generation. <paramref name="pinned"/>: queued envelopes still name
    /// an action only this generation defines, so its tables must stay open for their deliveries.
    /// </summary>
    public ValueTask Retire(bool pinned)
    {
        lock (_lock)
        {
            _retired = true;
            _pinned = pinned;
            if (!CanClose()) return ValueTask.CompletedTask;
        }
        return CloseAsync();
    }

    bool CanClose()
    {
        if (!_retired || _sessions > 0 || _closed) return false;
        _closed = true;
        return true;
    }

    /// <summary>Filters always go with the last session; tables only when no retired action needs them.</summary>
    async ValueTask CloseAsync()
    {
        if (!_pinned) Tables.Retire();
        if (Filters is not null) await Filters.DisposeAsync();
    }
}
