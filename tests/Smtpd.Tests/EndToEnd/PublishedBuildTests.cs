namespace Smtpd.Tests.EndToEnd;

// Path of the mail: client → smtpd (the published Native AOT build, started as root) → queue →
// the privileged helper starts a delivery process as the recipient → maildir. What the published
// build promises an administrator, for every process of the tree: it runs the one native
// executable, holds no assembly file open (the JIT build holds two descriptors per assembly:
// over 200 in the idle daemon), and few descriptors overall; and a server without TLS never loads
// OpenSSL's libcrypto (3.3 MB of mapped library in each process that touches it).
public sealed class PublishedBuildTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public async Task Every_process_runs_the_native_executable_with_no_assembly_open_and_few_descriptors()
    {
        Skip.IfNot(TestBinaries.Published, $"checks the published build ({TestBinaries.Variable}=DIR; ./test.sh sets it)");
        Skip.IfNot(TestUsers.IsRoot, "the helper and the delivery processes run only when smtpd is started as root");
        await using var smtpd = new SmtpdInstance($$"""
            listen on 127.0.0.1 port {port}
            action "maildir" maildir "{dir}/maildirs/%{user.username}"
            match from any for local action "maildir"
            """);
        await smtpd.StartAsync();
        Assert.StartsWith("250", await SmtpDialogue.TryDeliverAsync(smtpd.Port, "alice@example.org", $"{TestUsers.Ordinary}@localhost", "hello", "body"));
        await smtpd.WaitForLogAsync("result=Ok", Timeout);

        // Delivery processes stay a while after their work: the daemon, the helper and one or more of them.
        var tree = Tree(smtpd.Process.Id).ToList();
        Assert.True(tree.Count >= 3, $"expected daemon, helper and a delivery process, found pids {string.Join(' ', tree)}");
        string executable = Path.Combine(TestBinaries.PublishedDir!, "smtpd");
        foreach (int pid in tree)
        {
            string role = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            Assert.Equal(executable, new FileInfo($"/proc/{pid}/exe").LinkTarget);
            var open = Descriptors(pid);
            Assert.DoesNotContain(open, target => target.EndsWith(".dll"));
            Assert.True(open.Count <= 40, $"{role}: {open.Count} descriptors open:\n{string.Join('\n', open)}");
            Assert.DoesNotContain("libcrypto", File.ReadAllText($"/proc/{pid}/maps"));
        }
    }

    /// <summary>A process and all its descendants, from /proc (threads list their children).</summary>
    static IEnumerable<int> Tree(int root)
    {
        var todo = new Stack<int>([root]);
        while (todo.Count > 0)
        {
            int pid = todo.Pop();
            yield return pid;
            foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
                foreach (var child in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    todo.Push(int.Parse(child));
        }
    }

    /// <summary>What each open descriptor of <paramref name="pid"/> refers to (file path, socket:[N], pipe:[N], ...).</summary>
    static List<string> Descriptors(int pid) =>
        Directory.GetFiles($"/proc/{pid}/fd").Select(fd => new FileInfo(fd).LinkTarget ?? "?").ToList();
}
