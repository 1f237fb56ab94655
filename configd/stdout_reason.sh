#!/bin/sh
#
# Runs one mailpulse CLI command for a configd script_output action and keeps the reason of a
# failure visible. configd returns only stdout to the caller and sends stderr to its own log,
# so "the daemon is not running" or "file:line:col: message" would otherwise reach the web
# page as an empty answer. The command's stdout is passed on; when it printed nothing and
# failed, its stderr is printed on stdout instead (never both, so a JSON answer stays JSON).
# The exit status is the command's.
#
# Usage: stdout_reason.sh COMMAND [ARGUMENT...]

[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGUMENT...]" >&2; exit 64; }

reason=$(mktemp -t mailpulse-configd.XXXXXX) || exit 70
trap 'rm -f "${reason}"' EXIT

answer=$("$@" 2>"${reason}")
status=$?
if [ -n "${answer}" ]; then
	printf '%s\n' "${answer}"
elif [ "${status}" -ne 0 ]; then
	cat "${reason}"
fi
exit "${status}"
