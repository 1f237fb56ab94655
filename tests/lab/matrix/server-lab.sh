#!/bin/bash
# The lab's own dovecot servers behind the matrix's server contract (the same contract as
# tests/lab/matrix/server, which adds other servers):
#
#   server-lab.sh list                  profile names, one a line
#   server-lab.sh up NAME | down NAME   start / stop the profile's dovecot inside the running lab
#                                       (the matrix restarts a server after refused logins, so its
#                                       per-address login delay does not carry over to the next cell)
#   server-lab.sh addr NAME             the server's IPv4 address (NAME.mail.test)
#   server-lab.sh truth NAME SINCE      one line per login attempt since SINCE (epoch), from the
#                                       server's own log: "<epoch> <imap|pop3|smtp> <ok|failed> <client-ip>"
#
# Profiles: imap (dovecot "main", imap.mail.test, TLS 1.0-1.3), tls12 (tls12.mail.test: stunnel
# TLS 1.2+ on 993/995 in front of dovecot "tls12", which also serves STARTTLS on 143/110 with TLS
# 1.2+), slow (slow.mail.test: dovecot whose password check takes 8 s).
# Runs in the lab named by MPL_PREFIX (the matrix's: mpm); user alice, password MPL_ALICE_PASSWORD.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib.sh"
source "$HERE/../servers.sh"

profile_instance() {
    case $1 in
    imap) echo main ;; tls12) echo tls12 ;; slow) echo slow ;;
    *) die "unknown server profile '$1' (server-lab.sh list)" ;;
    esac
}
profile_addr() {
    case $1 in imap) echo "$IMAP4" ;; tls12) echo "$TLS12_4" ;; slow) echo "$SLOW4" ;; esac
}

# Dovecot logs one line per connection that tried to log in: "Login: ..." for a success,
# "Disconnected: ... (auth failed, N attempts in S secs)" for N refused attempts. Its timestamps
# have no year and whole seconds (log_timestamp "%b %d %H:%M:%S ").
dovecot_truth() { # dovecot_truth LOGFILE SINCE
    [[ -f $1 ]] || return 0
    /usr/bin/python3 - "$1" "$2" <<'PY'
import re, sys, time, datetime
log, since = sys.argv[1], float(sys.argv[2])
year = datetime.date.today().year
pat = re.compile(r"^(\w{3} \d{2} \d{2}:\d{2}:\d{2}) (imap|pop3|submission)-login: Info: (.*)$")
for line in open(log, errors="replace"):
    m = pat.match(line.rstrip("\n"))
    if not m:
        continue
    ts = time.mktime(time.strptime(f"{year} {m.group(1)}", "%Y %b %d %H:%M:%S"))
    if ts < int(since):
        continue
    proto = {"submission": "smtp"}.get(m.group(2), m.group(2))
    rest = m.group(3)
    rip = re.search(r"rip=([0-9a-fA-F.:]+)", rest)
    rip = rip.group(1) if rip else "-"
    if rest.startswith("Login: "):
        print(f"{int(ts)} {proto} ok {rip}")
        continue
    failed = re.search(r"auth failed, (\d+) attempts?", rest)
    if failed:
        for _ in range(int(failed.group(1))):
            print(f"{int(ts)} {proto} failed {rip}")
PY
}

action=${1:-}
case $action in
list) printf '%s\n' imap tls12 slow ;;
up)
    inst=$(profile_instance "${2:?profile}")
    [[ -d $PIDDIR ]] || die "the lab (MPL_PREFIX=$MPL_PREFIX) is not up"
    bg_running "dovecot-$inst" || start_dovecot "$inst"
    wait_for "dovecot $inst on $(profile_addr "$2"):143" 15 listening "$NS_NET" t "$(profile_addr "$2")" 143
    ;;
down) inst=$(profile_instance "${2:?profile}"); bg_stop "dovecot-$inst" ;;
addr) profile_instance "${2:?profile}" >/dev/null; profile_addr "$2" ;;
truth)
    inst=$(profile_instance "${2:?profile}")
    dovecot_truth "$STATE/dovecot-$inst.log" "${3:?since epoch}"
    ;;
*) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 64 ;;
esac
