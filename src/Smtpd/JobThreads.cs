namespace Smtpd;

/// <summary>
/// Threads of our own that run the jobs posted to them, in order, each job on whichever thread
/// is free. A job may change what is per thread (the file identity of
/// <see cref="Mda.UserFileAccess"/>) since nothing else runs on these threads. An idle thread
/// sleeps in <see cref="Monitor.Wait(object)"/>: a BlockingCollection's semaphore spins with
/// sched_yield before it sleeps, and with eight idle threads that spinning was 8 % of the delivery
/// tree's CPU under load (perf), time the daemon on the same cores needed.
/// </summary>
public sealed class JobThreads
{
    readonly Queue<Action> _jobs = new();

    public JobThreads(string name, int count)
    {
        for (int i = 0; i < count; i++)
            new Thread(Loop) { IsBackground = true, Name = count == 1 ? name : $"{name}-{i}" }.Start();
    }

    public void Post(Action job)
    {
        lock (_jobs)
        {
            _jobs.Enqueue(job);
            Monitor.Pulse(_jobs);
        }
    }

    void Loop()
    {
        while (true)
        {
            Action job;
            lock (_jobs)
            {
                while (_jobs.Count == 0) Monitor.Wait(_jobs);
                job = _jobs.Dequeue();
            }
            job();
        }
    }
}
