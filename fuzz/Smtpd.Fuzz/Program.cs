using System.Diagnostics;
using SharpFuzz;
using Smtpd.Fuzz;

// Smtpd.Fuzz TARGET           run under afl-fuzz (SharpFuzz's out-of-process fork server); see fuzz/README.md
// Smtpd.Fuzz TARGET FILE...   run each file once and print its outcome (triage, minimization)
if (args.Length == 0 || !FuzzTargets.Names.Contains(args[0]))
{
    Console.Error.WriteLine($"usage: Smtpd.Fuzz {{{string.Join('|', FuzzTargets.Names)}}} [FILE...]");
    return 2;
}

if (args.Length == 1)
{
    // Instrumented code must not run before SharpFuzz has mapped the coverage memory: the target
    // (which parses a configuration, opens tables) is made on the first input. The child process
    // SharpFuzz starts keeps running inputs until one kills it.
    IFuzzTarget? fuzzed = null;
    Fuzzer.OutOfProcess.Run(stream =>
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        (fuzzed ??= FuzzTargets.Create(args[0])!).Run(buffer.ToArray());
    });
    return 0;
}

var target = FuzzTargets.Create(args[0])!;
int failed = 0;
foreach (string file in args[1..])
{
    var clock = Stopwatch.StartNew();
    try
    {
        target.Run(File.ReadAllBytes(file));
        Console.WriteLine($"ok      {clock.ElapsedMilliseconds,6} ms  {file}");
    }
    catch (Exception ex)
    {
        failed++;
        Console.WriteLine($"FINDING {clock.ElapsedMilliseconds,6} ms  {file}\n{ex}\n");
    }
}
return failed == 0 ? 0 : 1;
