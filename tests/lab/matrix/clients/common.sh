# shellcheck shell=bash
# Shared argument handling of the matrix's client wrappers. Every wrapper is called as
#
#   CLIENT HOST PORT PROTO TLS USER PASSWORD RETRY
#   CLIENT --caps
#
#   PROTO     imap | pop3 | smtp
#   TLS       implicit | starttls | plain, optionally with "+tls1.0" (offer TLS 1.0 and nothing
#             newer: an old phone's or PC's TLS stack)
#   RETRY     yes: after a failed attempt the client tries once more by itself (its own retry
#             where it has one, otherwise the wrapper runs it again a second later, as a user
#             pressing "try again" would); no: one attempt
#
# Environment (set by tests/lab/matrix/run-matrix): MATRIX_CA (the lab CA), MATRIX_WORK (an empty
# directory for the client's configuration and mail), OPENSSL_CONF (the lab's legacy
# configuration: TLS 1.0 may be offered at all), MATRIX_LARGE (set: a sending client sends ~180 KB,
# so that a fault can cut it in the middle).
#
# Exit status 0 when the client fetched (or sent) mail, non-zero otherwise. `--caps` prints
# "protocols=... tls=... tls10=yes|no" so the runner knows which cells a client can fill.
set -uo pipefail

caps_or_args() { # caps_or_args CAPS "$@"
    if [[ ${2:-} == --caps ]]; then echo "$1"; exit 0; fi
    (($# == 8)) || { echo "usage: $(basename "$0") HOST PORT PROTO TLS USER PASSWORD RETRY" >&2; exit 64; }
    HOST=$2 PORT=$3 PROTO=$4 TLS=$5 USER=$6 PASS=$7 RETRY=$8
    TLS_MODE=${TLS%%+*}
    TLS10=0; [[ $TLS == *+tls1.0 ]] && TLS10=1
    CA=${MATRIX_CA:?MATRIX_CA not set}
    WORK=${MATRIX_WORK:?MATRIX_WORK not set}
    mkdir -p "$WORK"
    case $TLS_MODE in implicit | starttls | plain) ;; *) echo "unknown TLS mode $TLS" >&2; exit 64 ;; esac
    return 0
}

need() { # need PROGRAM PACKAGE
    command -v "$1" >/dev/null 2>&1 || { echo "MISSING prerequisite: $1 (package $2)" >&2; exit 69; }
}

# with_retry CMD...   run CMD; with RETRY=yes and a failure, once more a second later. (Its local
# variable is "status": a wrapper's own variables keep their names inside CMD.)
with_retry() {
    "$@" && return 0
    local status=$?
    [[ $RETRY == yes ]] || return "$status"
    sleep 1
    "$@"
}
