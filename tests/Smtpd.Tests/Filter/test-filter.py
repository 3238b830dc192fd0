#!/usr/bin/env python3
# A filter for the tests, speaking smtpd-filters(7): python3 test-filter.py REPORTS-FILE [REWRITE-TO]
#  - mail-from: rejects senders @unwelcome.example with "550 You're not welcome";
#    crash@... makes it exit, hang@... makes it sleep forever;
#  - rcpt-to: rewrites <redirect@localhost> to REWRITE-TO;
#  - data-line: adds "X-Test-Filter: seen" on top; exits on a line "CRASH-IN-DATA", hangs on "HANG-IN-DATA";
#  - every report it gets is appended to REPORTS-FILE, one line each.
import sys, time

reports = open(sys.argv[1], "a", buffering=1)
rewrite_to = sys.argv[2] if len(sys.argv) > 2 else None
events = ["link-connect", "link-greeting", "link-identify", "link-tls", "link-auth", "link-disconnect", "tx-begin", "tx-mail",
          "tx-rcpt", "tx-data", "tx-envelope", "tx-commit", "tx-rollback", "tx-reset",
          "protocol-client", "protocol-server", "filter-response"]
started = set()  # sessions whose message we are passing through


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    if line.rstrip("\n") == "config|ready":
        break
for e in events:
    out("register|report|smtp-in|" + e)
for phase in ["mail-from", "rcpt-to", "data-line"]:
    out("register|filter|smtp-in|" + phase)
out("register|ready")

for line in sys.stdin:
    line = line.rstrip("\n")
    fields = line.split("|")
    if fields[0] == "report":
        reports.write(line + "\n")
        continue
    # filter|VERSION|TIME|smtp-in|PHASE|SESSION|TOKEN|PARAM (the param may contain '|')
    phase, session, token = fields[4], fields[5], fields[6]
    param = "|".join(fields[7:])
    if phase == "mail-from":
        if param.startswith("crash@"):
            sys.exit(3)
        if param.startswith("hang@"):
            while True:
                time.sleep(3600)
        if param.endswith("@unwelcome.example"):
            out(f"filter-result|{session}|{token}|reject|550 You're not welcome")
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
