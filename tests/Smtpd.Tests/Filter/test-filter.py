#!/usr/bin/env python3
# A filter for the tests, speaking smtpd-filters(7): python3 test-filter.py REPORTS-FILE [REWRITE-TO]
#  - helo/ehlo: rejects reject.example ("550 5.7.1 Bad helo"), disconnects disconnect.example
#    ("421 4.7.0 Go away"), junks junk.example; remembers the name for the session;
#  - starttls: rejects a session that said notls.example; auth: rejects one that said noauth.example;
#  - mail-from: rejects senders @unwelcome.example with "550 You're not welcome";
#    crash@... makes it exit, hang@... makes it sleep forever; junk@... is junked, bye@...
#    disconnected ("421 4.7.0 Bye now"), report@... answered with "report|sender noted";
#  - data: rejects the transaction of nodata@... ("554 5.7.1 No data for you");
#  - rcpt-to: rewrites <redirect@localhost> to REWRITE-TO;
#  - data-line: adds "X-Test-Filter: seen" on top; exits on a line "CRASH-IN-DATA", hangs on "HANG-IN-DATA";
#  - every report it gets is appended to REPORTS-FILE, one line each.
import sys, time

reports = open(sys.argv[1], "a", buffering=1)
rewrite_to = sys.argv[2] if len(sys.argv) > 2 else None
events = ["link-connect", "link-greeting", "link-identify", "link-tls", "link-auth", "link-disconnect", "tx-begin", "tx-mail",
          "tx-rcpt", "tx-data", "tx-envelope", "tx-commit", "tx-rollback", "tx-reset",
          "protocol-client", "protocol-server", "filter-report", "filter-response", "timeout"]
started = set()  # sessions whose message we are passing through
helos = {}  # session -> the name it gave at HELO/EHLO
senders = {}  # session -> its current MAIL FROM


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    if line.rstrip("\n") == "config|ready":
        break
for e in events:
    out("register|report|smtp-in|" + e)
for phase in ["helo", "ehlo", "starttls", "auth", "mail-from", "rcpt-to", "data", "data-line"]:
    out("register|filter|smtp-in|" + phase)
out("register|ready")

for line in sys.stdin:
    line = line.rstrip("\n")
    fields = line.split("|")
    if fields[0] == "report":
        reports.write(line + "\n")
        if fields[4] == "link-disconnect":
            for known in (helos, senders):
                known.pop(fields[5], None)
        continue
    # filter|VERSION|TIME|smtp-in|PHASE|SESSION|TOKEN|PARAM (the param may contain '|')
    phase, session, token = fields[4], fields[5], fields[6]
    param = "|".join(fields[7:])
    if phase in ("helo", "ehlo"):
        helos[session] = param
        if param == "reject.example":
            out(f"filter-result|{session}|{token}|reject|550 5.7.1 Bad helo")
        elif param == "disconnect.example":
            out(f"filter-result|{session}|{token}|disconnect|421 4.7.0 Go away")
        elif param == "junk.example":
            out(f"filter-result|{session}|{token}|junk")
        else:
            out(f"filter-result|{session}|{token}|proceed")
    elif phase == "starttls" and helos.get(session) == "notls.example":
        out(f"filter-result|{session}|{token}|reject|454 4.7.0 TLS not available to you")
    elif phase == "auth" and helos.get(session) == "noauth.example":
        out(f"filter-result|{session}|{token}|reject|535 5.7.8 Not for you")
    elif phase == "data" and senders.get(session, "").startswith("nodata@"):
        out(f"filter-result|{session}|{token}|reject|554 5.7.1 No data for you")
    elif phase == "mail-from":
        senders[session] = param
        if param.startswith("crash@"):
            sys.exit(3)
        if param.startswith("hang@"):
            while True:
                time.sleep(3600)
        if param.endswith("@unwelcome.example"):
            out(f"filter-result|{session}|{token}|reject|550 You're not welcome")
        elif param.startswith("junk@"):
            out(f"filter-result|{session}|{token}|junk")
        elif param.startswith("bye@"):
            out(f"filter-result|{session}|{token}|disconnect|421 4.7.0 Bye now")
        elif param.startswith("report@"):
            out(f"filter-result|{session}|{token}|report|sender noted")
        else:
            out(f"filter-result|{session}|{token}|proceed")
    elif phase == "rcpt-to":
        if param == "redirect@localhost" and rewrite_to:
            out(f"filter-result|{session}|{token}|rewrite|<{rewrite_to}>")
        else:
            out(f"filter-result|{session}|{token}|proceed")
    elif phase == "data-line":
        if param == "CRASH-IN-DATA":
            sys.exit(4)
        if param == "HANG-IN-DATA":
            while True:
                time.sleep(3600)
        if session not in started:
            started.add(session)
            out(f"filter-dataline|{session}|{token}|X-Test-Filter: seen")
        if param == ".":
            started.discard(session)
        out(f"filter-dataline|{session}|{token}|{param}")
    else:
        out(f"filter-result|{session}|{token}|proceed")
