using System.Globalization;
using System.Net;
using System.Text;

namespace Smtpd.Admin;

/// <summary>
/// A line chart as inline SVG, drawn by the server: one polyline per series over the same
/// x axis (the samples, oldest left), scaled to the largest value. Each point carries its value
/// in a title, so a reader (or a test) can check what is drawn.
/// </summary>
internal static class SvgChart
{
    const int Width = 600, Height = 140, Pad = 20;

    public static string Render(string id, string title, IReadOnlyList<DateTimeOffset> at, params (string Name, string Color, IReadOnlyList<long> Values)[] series)
    {
        long max = Math.Max(1, series.SelectMany(s => s.Values).DefaultIfEmpty(0).Max());
        int n = at.Count;
        double X(int i) => n <= 1 ? Pad : Pad + i * (Width - 2.0 * Pad) / (n - 1);
        double Y(long v) => Height - Pad - v * (Height - 2.0 * Pad) / max;
        string F(double d) => d.ToString("0.#", CultureInfo.InvariantCulture);
        var svg = new StringBuilder();
        svg.Append($"<figure class=\"chart\"><figcaption>{WebUtility.HtmlEncode(title)} (max {max})</figcaption>");
        svg.Append($"<svg id=\"{id}\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\" role=\"img\">");
        svg.Append($"<line x1=\"{Pad}\" y1=\"{Height - Pad}\" x2=\"{Width - Pad}\" y2=\"{Height - Pad}\" class=\"axis\"/>");
        foreach (var (name, color, values) in series)
        {
            var points = string.Join(' ', values.Select((v, i) => $"{F(X(i))},{F(Y(v))}"));
            svg.Append($"<polyline class=\"series\" data-series=\"{name}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{points}\"/>");
            for (int i = 0; i < values.Count; i++)
                svg.Append($"<circle class=\"point\" data-series=\"{name}\" data-value=\"{values[i]}\" cx=\"{F(X(i))}\" cy=\"{F(Y(values[i]))}\" r=\"2.5\" fill=\"{color}\"><title>{name} {values[i]} at {at[i]:HH:mm}</title></circle>");
        }
        svg.Append($"<text x=\"{Pad}\" y=\"12\" class=\"legend\">");
        foreach (var (name, color, _) in series) svg.Append($"<tspan fill=\"{color}\">■ {name} </tspan>");
        svg.Append("</text></svg></figure>");
        return svg.ToString();
    }
}
