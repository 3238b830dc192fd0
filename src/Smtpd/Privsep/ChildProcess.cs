using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace Smtpd.Privsep;

/// <summary>
/// Starts this same program in another role (<c>smtpd --privileged-helper FD</c>,
/// <c>smtpd --delivery-worker FD ...</c>) with one end of a socket pair as descriptor FD.
/// .NET leaves a child every descriptor not marked close-on-exec, so the end is made
/// inheritable just for the spawn; spawns are serialized so that no other child of ours
/// inherits it by accident.
/// </summary>
public static class ChildProcess
{
    static readonly Lock SpawnLock = new();

    /// <summary>
    /// The helper and the delivery processes hold little and run briefly, but the runtime sizes
    /// their first garbage collection for the machine's cache (32 MiB of L3 here: about 7 MB more
    /// per process, measured with bench/footprint.sh); a 1 MiB gen0 budget keeps each one near its
    /// live data (2 MiB, the daemon's, left a delivery process at 6.7-6.9 MB of private memory at
    /// the peak of 2000 deliveries, 1 MiB at 5.1-5.5; the helper 3.3 -> 2.5). Profile-guided recompilation never pays back in such processes and costs the
    /// helper about 3 MB. Neither changes what the processes do.
    /// An idle thread-pool thread goes to sleep at once instead of spinning first: their work
    /// items are short and far apart (a request, a delivery waiting for its disk), so the spinning
    /// never finds work and only burns the CPU the daemon needs (perf showed sched_yield from the
    /// pool's wait at 53% of the helper's and 25% of a delivery process's CPU under a 10 KiB burst).
    /// </summary>
    static readonly KeyValuePair<string, string>[] ChildRuntimeSettings =
        [new("DOTNET_GCgen0size", "100000"), new("DOTNET_TieredPGO", "0"), new("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit", "0")];

    public static Process Start(FdChannel childEnd, IEnumerable<string> args, IDictionary<string, string?>? environment = null,
        string workingDirectory = "/")
    {
        var psi = new ProcessStartInfo { UseShellExecute = false, WorkingDirectory = workingDirectory };
        // The native (AOT) executable, or the apphost, re-executes itself; run as
        // "dotnet smtpd.dll", the host needs the entry assembly again.
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find our own executable");
        psi.FileName = self;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            psi.ArgumentList.Add(EntryAssemblyFile());
        foreach (string a in args) psi.ArgumentList.Add(a);
        // Runtime settings that runtimeconfig.json cannot carry (GCgen0size is read from the
        // environment only); an administrator's own value wins.
        foreach (var (k, v) in ChildRuntimeSettings)
            if (!psi.Environment.ContainsKey(k)) psi.Environment[k] = v;
        if (environment is not null)
            foreach (var (k, v) in environment) psi.Environment[k] = v;
        lock (SpawnLock)
        {
            childEnd.Inheritable(true);
            try { return Process.Start(psi) ?? throw new InvalidOperationException("could not start a child process"); }
            finally { childEnd.Dispose(); }
        }
    }

    /// <summary>smtpd.dll beside the runtime's other files (only meaningful when run by the dotnet host).</summary>
    static string EntryAssemblyFile()
    {
        string name = Assembly.GetEntryAssembly()?.GetName().Name ?? throw new InvalidOperationException("no entry assembly");
        return Path.Combine(AppContext.BaseDirectory, name + ".dll");
    }

    /// <summary>Loads every assembly we may need, before a drop of privileges can make the program's files unreadable.</summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification =
        "Runs only where code is loaded from assemblies (JIT); a Native AOT build returns before any reflection, and nothing is trimmed under JIT.")]
    public static void PreloadAssemblies()
    {
        // Native AOT: all the code is in the executable, there is nothing left to load.
        if (!System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported) return;
        var seen = new HashSet<string>();
        var todo = new Stack<Assembly>();
        todo.Push(typeof(ChildProcess).Assembly);
        if (Assembly.GetEntryAssembly() is { } entry) todo.Push(entry);
        while (todo.Count > 0)
        {
            foreach (var name in todo.Pop().GetReferencedAssemblies())
            {
                if (!seen.Add(name.FullName)) continue;
                try { todo.Push(Assembly.Load(name)); }
                catch (Exception ex) when (ex is FileNotFoundException or FileLoadException or BadImageFormatException) { }
            }
        }
    }
}
