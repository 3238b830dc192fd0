using System.Diagnostics;
using Smtpd.Table;
using Smtpd.Tests.EndToEnd;

namespace Smtpd.Tests.Table;

// A proc table answers each request under its id, so a lookup the program is slow to answer
// does not hold up the others (OpenSMTPD's table_proc carries an id per request).
public sealed class ProcTableTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("smtpd-proctable-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Answers "slow" after 3 s from a thread of its own, every other key at once; "hang" never.
    const string Program = """
        import sys, threading, time
        out = threading.Lock()
        def answer(line):
            with out:
                print(line, flush=True)
        def later(line):
            time.sleep(3)
            answer(line)
        for line in sys.stdin:
            line = line.rstrip('\n')
            if line == 'config|ready':
                answer('register|alias\nregister|ready')
                continue
            if line.startswith('config|'):
                continue
            f = line.split('|')
            req, rid, key = f[4], f[6], f[7]
            if key == 'hang':
                continue
            reply = req + '-result|' + rid + '|found|value-of-' + key
            if key == 'slow':
                threading.Thread(target=later, args=(reply,)).start()
            else:
                answer(reply)
        """;

    ProcTable Start()
    {
        Skip.IfNot(ExternalTool.Exists("python3"), "python3 is not installed");
        string script = Path.Combine(_dir, "table.py");
        File.WriteAllText(script, Program);
        return new ProcTable("piped", $"python3 {script}");
    }

    [SkippableFact]
    public async Task A_slow_answer_does_not_hold_up_the_next_lookups()
    {
        using var table = Start();
        Assert.Equal("value-of-warmup", await table.LookupAsync(TableService.Alias, "warmup")); // the program is started

        var clock = Stopwatch.StartNew();
        var slow = table.LookupAsync(TableService.Alias, "slow").AsTask();
        for (int i = 0; i < 20; i++)
            Assert.Equal($"value-of-fast{i}", await table.LookupAsync(TableService.Alias, $"fast{i}"));
        var fastDone = clock.Elapsed;
        Assert.False(slow.IsCompleted, "the slow answer came before the fast ones");
        Assert.True(fastDone < TimeSpan.FromSeconds(2), $"20 fast lookups took {fastDone.TotalMilliseconds:0} ms behind a slow one");
        Assert.Equal("value-of-slow", await slow.WaitAsync(TimeSpan.FromSeconds(15)));
    }

    [SkippableFact]
    public async Task A_request_never_answered_is_a_temporary_failure_after_the_timeout_and_the_program_is_started_again()
    {
        using var table = Start();
        var clock = Stopwatch.StartNew();
        var failed = await Assert.ThrowsAsync<TableTempFailException>(() => table.LookupAsync(TableService.Alias, "hang").AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("did not answer in time", failed.Message);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(9), TimeSpan.FromSeconds(20));
        Assert.Equal("value-of-after", await table.LookupAsync(TableService.Alias, "after").AsTask().WaitAsync(TimeSpan.FromSeconds(15)));
    }
}
