namespace Smtpd.Privsep;

/// <summary>
/// A thread of our own that runs the jobs posted to it one after another. Idle, it sleeps in
/// <see cref="Monitor.Wait(object)"/> (no spinning), and a job may change what is per thread
/// (the file identity of <see cref="Mda.UserFileAccess.RunHere{T}"/>) since nothing else runs on it.
/// </summary>
public sealed class SerialThread
{
    readonly Queue<Action> _jobs = new();

    public SerialThread(string name) =>
        new Thread(Loop) { IsBackground = true, Name = name }.Start();

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
