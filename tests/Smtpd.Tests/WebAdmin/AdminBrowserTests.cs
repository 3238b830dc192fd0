using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using Smtpd.Tests.Control;

namespace Smtpd.Tests.WebAdmin;

// Debian's chromium, headless, driven by Selenium through Debian's chromedriver, on the admin
// page of an smtpd whose queue holds three messages for relays nobody answers: log in, see the
// graphs drawn with the run's data, search an envelope, open it, remove it with the page's button
// and its confirmation; then smtpctl show queue no longer lists it.
// With SMTPD_ADMIN_SCREENSHOTS=DIR the pages are saved as DIR/admin-*.png (the README's).
public sealed class AdminBrowserTests
{
    const string Chromium = "/usr/bin/chromium", Driver = "/usr/bin/chromedriver";
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    static string? Unavailable =>
        !File.Exists(Chromium) || !File.Exists(Driver) ? "chromium and chromium-driver are not installed (tests/install-peers.sh installs them)" : null;

    static ChromeDriver StartBrowser()
    {
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(Driver)!, Path.GetFileName(Driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = Chromium };
        // --no-sandbox: the tests run as root, where chromium's sandbox refuses to start.
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1500");
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    /// <summary>Reloads the page (bounded) until <paramref name="done"/> holds.</summary>
    static void ReloadUntil(IWebDriver browser, Func<IWebDriver, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!done(browser))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what} never seen:\n{browser.PageSource}");
            Thread.Sleep(300);
            browser.Navigate().Refresh();
        }
    }

    static void Screenshot(IWebDriver browser, string name)
    {
        string dir = Environment.GetEnvironmentVariable("SMTPD_ADMIN_SCREENSHOTS") ?? Path.Combine(Path.GetTempPath(), "smtpd-admin-screenshots");
        Directory.CreateDirectory(dir);
        ((ITakesScreenshot)browser).GetScreenshot().SaveAsFile(Path.Combine(dir, $"admin-{name}.png"));
    }

    [SkippableFact]
    public void Log_in_see_the_graphs_find_an_envelope_and_remove_it_then_smtpctl_no_longer_lists_it()
    {
        Skip.If(Unavailable is not null, Unavailable);
        Run().GetAwaiter().GetResult();
    }

    static async Task Run()
    {
        await using var site = await AdminSite.StartAsync(sampleSeconds: 1);
        await site.SendAsync("alice@example.org", "bob@far.example");
        await site.SendAsync("dave@example.net", "erin@other.example");
        await site.SendAsync("frank@example.com", "grace@third.example");
        await site.Smtpd.WaitForLogAsync("result=\"TempFail\"", Timeout, count: 3);
        string erin = (await Smtpctl.QueueAsync(site.Smtpd)).Single(l => l[5] == "erin@other.example")[0];

        using var browser = StartBrowser();
        // Log in with the credentials in the URL; the browser keeps them for the page's requests.
        browser.Navigate().GoToUrl($"http://{AdminSite.User}:{AdminSite.Password}@127.0.0.1:{site.Port}/");
        ReloadUntil(browser, b => AdminGraphTests.Points(b.PageSource, "graph-messages", "in").Sum() == 3
            && AdminGraphTests.Points(b.PageSource, "graph-messages", "in").Count >= 3, "the three messages in the graph");
        Assert.Equal("3", browser.FindElement(By.Id("received")).Text);
        foreach (var chart in new[] { "graph-messages", "graph-queue", "graph-deliveries" })
        {
            var svg = browser.FindElement(By.Id(chart));
            Assert.True(svg.Displayed);
            Assert.All(svg.FindElements(By.CssSelector("polyline.series")), p => Assert.NotEmpty(p.GetAttribute("points")!));
            Assert.NotEmpty(svg.FindElements(By.CssSelector("circle.point")));
        }
        // The stylesheet and script came with the credentials too.
        Assert.Equal("block", browser.FindElement(By.Id("graphs")).GetCssValue("display"));
        Assert.Equal(3, browser.FindElements(By.CssSelector("#queue tbody tr")).Count);
        Screenshot(browser, "overview");

        // Search by domain.
        var search = browser.FindElement(By.Id("search"));
        search.Clear();
        search.SendKeys("other.example" + Keys.Enter);
        new OpenQA.Selenium.Support.UI.WebDriverWait(browser, Timeout).Until(b => b.Url.Contains("q=other.example"));
        var row = Assert.Single(browser.FindElements(By.CssSelector("#queue tbody tr")));
        Assert.Equal(erin, row.GetAttribute("data-id"));
        Screenshot(browser, "search");

        // The envelope's detail, with its last error.
        row.FindElement(By.LinkText(erin)).Click();
        Assert.Contains("last error:", browser.FindElement(By.Id("last-error")).Text);
        Assert.DoesNotContain("last error: none", browser.FindElement(By.Id("last-error")).Text);
        Screenshot(browser, "envelope");
        browser.Navigate().Back();

        // Remove, confirmed in the dialog; the page goes back to the whole queue.
        browser.FindElement(By.CssSelector($"button[data-action='remove'][data-id='{erin}']")).Click();
        var confirm = new OpenQA.Selenium.Support.UI.WebDriverWait(browser, Timeout).Until(b => { try { return b.SwitchTo().Alert(); } catch (NoAlertPresentException) { return null; } });
        Assert.Contains(erin, confirm!.Text);
        confirm.Accept();
        new OpenQA.Selenium.Support.UI.WebDriverWait(browser, Timeout).Until(b => !b.Url.Contains("q=") && b.FindElements(By.CssSelector("#queue tbody tr")).Count == 2);
        Assert.Empty(browser.FindElements(By.CssSelector($"tr[data-id='{erin}']")));

        var left = await Smtpctl.QueueAsync(site.Smtpd);
        Assert.DoesNotContain(left, l => l[0] == erin);
        Assert.Equal(2, left.Length);
    }
}
