using System.Buffers.Binary;
using System.Net.Sockets;

namespace Smtpd.Control;

/// <summary>Who is at the other end of a unix socket: the kernel says (SO_PEERCRED), the client cannot lie.</summary>
public static class PeerCredentials
{
    const int SolSocket = 1, SoPeerCred = 17;

    /// <summary>The peer's uid, or null when the kernel does not say.</summary>
    public static uint? Uid(Socket socket)
    {
        Span<byte> ucred = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        try
        {
            int n = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
            return n >= 8 ? BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..8]) : null;
        }
        catch (SocketException) { return null; }
    }
}
