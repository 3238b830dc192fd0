# Records what an MTA sends a milter (for postfix-3.7.11-session.txt): python3 postfix-recorder.py PORT FILE,
# then point smtpd_milters at inet:127.0.0.1:PORT and run the session the file describes.
# A milter that answers "continue" to every stage and writes each packet it gets, one per line:
# the command character, then its data with NUL shown as | and other control bytes escaped.
import socket, struct, sys, threading
port, out = int(sys.argv[1]), sys.argv[2]
NOREPLY = set(b'DAQK')
def show(data):
    return ''.join('|' if b == 0 else ('\\x%02x' % b if b < 32 or b > 126 or b == 0x5c else chr(b)) for b in data)
def serve(conn):
    with conn, open(out, 'a') as log:
        while True:
            head = conn.recv(4, socket.MSG_WAITALL)
            if len(head) < 4: return
            n = struct.unpack('>I', head)[0]
            body = b''
            while len(body) < n:
                chunk = conn.recv(n - len(body))
                if not chunk: return
                body += chunk
            code, data = body[0], body[1:]
            log.write(chr(code) + ' ' + show(data) + '\n'); log.flush()
            if code == ord('O'):
                conn.sendall(struct.pack('>IBIII', 13, ord('O'), 6, 0x1ff, 0))
            elif code == ord('Q'):
                return
            elif code not in NOREPLY:
                conn.sendall(struct.pack('>IB', 1, ord('c')))
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', port)); s.listen(5)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
