#!/bin/sh
#
# `configctl mailpulse reload`: applies the configuration the templates just wrote.
#
# A running daemon is asked with `mailpulse reload`, which answers only after it has applied
# the file (or refused it, keeping its old configuration); a daemon that is not running is
# started instead. The first line of the output says what happened, for the web UI:
#
#   ok            then the one-sentence summary of what was applied
#   failed N      then the reason (exit status N; 78 is an invalid configuration, whose
#                 reason is file:line:col: message)
#
# configd returns only stdout, so every reason is printed there. The exit status is 0 or N.
# MAILPULSE_PROGRAM and MAILPULSE_RC override the installed paths (tests).

program=${MAILPULSE_PROGRAM:-/usr/local/bin/mailpulse}
rc_script=${MAILPULSE_RC:-/usr/local/etc/rc.d/mailpulse}

# Runs "$@"; sets $out to stdout and stderr together and $status to the exit status.
run() {
	out=$("$@" 2>&1)
	status=$?
}

report() {
	if [ "$1" -eq 0 ]; then
		echo "ok"
	else
		echo "failed $1"
	fi
	[ -z "$2" ] || printf '%s\n' "$2"
	exit "$1"
}

if "${rc_script}" status >/dev/null 2>&1; then
	run "${program}" reload
	# 69 (EX_UNAVAILABLE): the daemon went away since the status check; start it below.
	[ "${status}" -eq 69 ] || report "${status}" "${out}"
fi

run "${rc_script}" start
if [ "${status}" -ne 0 ]; then
	report "${status}" "${out}"
fi
report 0 "mailpulse was not running; it has been started with the new configuration."
