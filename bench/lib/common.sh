# shellcheck shell=bash
# Shared helpers for bench/run.sh: logging, statistics, the results table, process sampling.
# Sourced only; nothing here runs on its own.

say() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# A required program, with the Debian package that provides it. Missing: an error naming both.
need() {
    local prog=$1 pkg=$2
    command -v "$prog" >/dev/null 2>&1 || die "'$prog' is missing (apt-get install $pkg)"
}

# Wall clock in seconds with nanoseconds (CLOCK_REALTIME, the clock the listeners stamp with).
now_s() { date +%s.%N; }

# median of the numbers given as arguments ("" when none).
median() {
    printf '%s\n' "$@" | grep -E '^-?[0-9.]+(e[-+]?[0-9]+)?$' | sort -g |
        awk '{v[NR]=$1} END { if (NR==0) {print ""; exit}
             if (NR%2) printf "%.6g\n", v[(NR+1)/2]; else printf "%.6g\n", (v[NR/2]+v[NR/2+1])/2 }'
}

# calc EXPR: floating-point arithmetic through awk, printed with up to 4 significant digits.
calc() { awk "BEGIN { printf \"%.4g\n\", $1 }"; }

# ratio A B: A/B, or "n/a" when either is missing or B is zero.
ratio() {
    local a=$1 b=$2
    if [[ -z $a || -z $b || $a == n/a || $b == n/a ]]; then echo "n/a"; return; fi
    awk -v a="$a" -v b="$b" 'BEGIN { if (b+0 == 0) print "n/a"; else printf "%.3g\n", a/b }'
}

# met ACTUAL OP LIMIT: "yes" / "**NO**" / "n/a" (OP is one of <= >= <).
met() {
    local a=$1 op=$2 lim=$3
    if [[ -z $a || $a == n/a ]]; then echo "n/a"; return; fi
    awk -v a="$a" -v l="$lim" -v op="$op" 'BEGIN {
        ok = (op == "<=") ? (a <= l) : (op == ">=") ? (a >= l) : (op == "<") ? (a < l) : (a == l)
        print ok ? "yes" : "**NO**" }'
}

# The results table: one row per metric, kept in $RESULTS_ROWS (a file) and printed at the end.
# row METRIC MAILPULSE PEER RATIO TARGET MET
row() {
    local IFS='|'
    printf '| %s |\n' "$(printf '%s | ' "$@" | sed 's/ | $//')" >>"$RESULTS_ROWS"
}
# note TEXT: a line printed under the table (how a number was obtained, what is missing).
note() { printf -- '- %s\n' "$*" >>"$RESULTS_NOTES"; }
# fail_row METRIC WHY: a measurement that could not be made; the run exits non-zero at the end.
fail_row() {
    row "$1" "MISSING" "" "" "" "**NO**"
    note "$1: not measured: $2"
    FAILED=$((FAILED + 1))
}

# rss_kb PID: resident set size in KiB (VmRSS), empty when the process is gone.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
# hwm_kb PID: peak resident set size in KiB (VmHWM).
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# cpu_ticks PID: utime+stime in clock ticks (fields 14 and 15 of /proc/PID/stat; the command
# name in field 2 may hold spaces, so count from the closing parenthesis).
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo $((${12} + ${13}))
}
# shellcheck disable=SC2034 # used by lib/sections.sh
CLK_TCK=$(getconf CLK_TCK)

# peak_rss_kb_of FILE: "Maximum resident set size" from a /usr/bin/time -v report.
peak_rss_kb_of() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }
# wall_s_of FILE: elapsed seconds of a `timed` run (FILE.wall), else from the /usr/bin/time -v
# report ("h:mm:ss" or "m:ss.ss").
wall_s_of() {
    [[ -s $1.wall ]] && { cat "$1.wall"; return; }
    awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"
}

# timed OUT_TIME_FILE CMD...: runs CMD under /usr/bin/time -v with its output discarded, and
# writes the wall time in seconds, measured here in nanoseconds (time -v rounds to 10 ms), to
# OUT_TIME_FILE.wall. Fails (with the command's stderr tail) when CMD fails.
timed() {
    local tf=$1 t0 t1; shift
    t0=$(date +%s%N)
    if ! /usr/bin/time -v -o "$tf" "$@" >/dev/null 2>"$tf.err"; then
        say "command failed: $*"; tail -5 "$tf.err" >&2; return 1
    fi
    t1=$(date +%s%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }' >"$tf.wall"
}

# mb KIB: KiB as MB with one decimal (MB = 10^6 bytes, as the targets are stated).
mb() { [[ -n $1 ]] && awk -v k="$1" 'BEGIN { printf "%.1f\n", k * 1024 / 1e6 }'; }
