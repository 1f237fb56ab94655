#!/bin/sh
#
# Runs one mailpulse CLI command for a configd script_output action and keeps the reason of a
# failure visible. configd returns only stdout to the caller and sends stderr to its own log,
# so "the daemon is not running" or "file:line:col: message" would otherwise reach the web
# page as an empty answer. stdout passes through unchanged; when the command fails, its
# stderr follows on stdout. The exit status is the command's.
#
# Usage: stdout_reason.sh COMMAND [ARGUMENT...]

[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGUMENT...]" >&2; exit 64; }

# fd 3 is the real stdout; the command substitution captures only stderr.
{ reason=$("$@" 2>&1 >&3 3>&-); status=$?; } 3>&1
if [ "${status}" -ne 0 ] && [ -n "${reason}" ]; then
	printf '%s\n' "${reason}"
fi
exit "${status}"
