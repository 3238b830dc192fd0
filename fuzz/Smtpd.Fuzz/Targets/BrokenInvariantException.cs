namespace Smtpd.Fuzz;

/// <summary>The code under test returned, but what it returned breaks a promise it makes.</summary>
public sealed class BrokenInvariantException(string message) : Exception(message);
