#!/bin/bash
# The full client x server x scenario matrix (tests/lab/run-matrix --full), results written to
# bench/matrix-results.md. Root, Linux, the lab's packages (tests/lab/packages.txt) and those of the
# matrix's server profiles.
#
#   bench/matrix.sh                  MAILPULSE defaults to target/release/mailpulse, else target/debug
#   bench/matrix.sh --jobs 3         the servers split over 3 labs run side by side (prefixes mpm,
#                                    mpf, mpg), then judged together; default 1
#   bench/matrix.sh --groups "imap,cyrus tls12,courier"   the split by hand (one job per group)
#   bench/matrix.sh --gap 60 ...     further options go to every run-matrix (--clients, --scenarios)
#
# The last line is "N passed, N failed"; the exit status is non-zero if a cell failed.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MATRIX=$REPO/tests/lab/matrix
if [[ -z ${MAILPULSE:-} ]]; then
    MAILPULSE=$REPO/target/release/mailpulse
    [[ -x $MAILPULSE ]] || MAILPULSE=$REPO/target/debug/mailpulse
fi
export MAILPULSE
jobs=1; gap=${MATRIX_GAP:-60}; pass=(); groups=()
while (($#)); do
    case $1 in
    --jobs) jobs=${2:?--jobs N}; shift 2 ;;
    --gap) gap=${2:?--gap SECONDS}; shift 2 ;;
    --groups) read -r -a groups <<<"${2:?--groups \"A,B C,D\"}"; jobs=${#groups[@]}; shift 2 ;;
    *) pass+=("$1"); shift ;;
    esac
done
((jobs >= 1 && jobs <= 3)) || { echo "--jobs: 1 to 3" >&2; exit 64; }
started=$(date +%s)
out=$(mktemp -d /tmp/mpm-bench-matrix.XXXXXX)
if ((jobs == 1)); then
    set +e
    "$REPO/tests/lab/run-matrix" --full --gap "$gap" --out "$out/all" "${pass[@]}"
    set -e
else
    # Every server profile, dealt round-robin to the jobs.
    if ((${#groups[@]} == 0)); then
        mapfile -t names < <({ [[ -x $MATRIX/server ]] && MPL_PREFIX=mpm "$MATRIX/server" list; \
                               MPL_PREFIX=mpm "$MATRIX/server-lab.sh" list; } | sort -u)
        for i in "${!names[@]}"; do groups[i % jobs]+="${groups[i % jobs]:+,}${names[i]}"; done
    fi
    prefixes=(mpm mpf mpg)
    pids=()
    for ((j = 0; j < jobs; j++)); do
        echo "job $j (${prefixes[j]}): servers ${groups[j]}" >&2
        MPL_PREFIX=${prefixes[j]} "$REPO/tests/lab/run-matrix" --full --gap "$gap" \
            --servers "${groups[j]}" --out "$out/${prefixes[j]}" "${pass[@]}" \
            >"$out/${prefixes[j]}.log" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
fi
# One judgement over every job's cells (their directories side by side).
mkdir -p "$out/merged/cells"
: >"$out/merged/server-failures.txt"
for d in "$out"/*/; do
    [[ $d == "$out/merged/" ]] && continue
    for c in "$d"cells/*/; do [[ -d $c ]] && ln -s "$c" "$out/merged/cells/$(basename "$d")-$(basename "$c")"; done
    [[ -f $d/server-failures.txt ]] && cat "$d/server-failures.txt" >>"$out/merged/server-failures.txt"
done
/usr/bin/python3 "$MATRIX/judge.py" report "$out/merged" --mode "full, $jobs job(s)" \
    --seconds "$(($(date +%s) - started))" --gap "$gap" --table "$REPO/bench/matrix-results.md"
