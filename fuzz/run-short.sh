#!/bin/bash
# Builds every fuzz target and runs each for a short while (CI). A crash fails the script and
# leaves the input in fuzz/artifacts/<target>/.
#   fuzz/run-short.sh [SECONDS_PER_TARGET]   (default 20)
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
command -v cargo-fuzz >/dev/null || { echo "missing prerequisite: cargo-fuzz (cargo install cargo-fuzz)" >&2; exit 1; }
rustup toolchain list | grep -q '^nightly' || { echo "missing prerequisite: the nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }
cargo +nightly fuzz build -O
failed=0
for target in $(cargo +nightly fuzz list); do
    dict=()
    [[ -f mail.dict ]] && dict=(-dict=mail.dict)
    mkdir -p "corpus/$target"
    echo "== $target (${seconds}s)"
    if ! cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
            -max_total_time="$seconds" -jobs=1 -workers=1 -rss_limit_mb=2048 -max_len=4096 \
            "${dict[@]}" 2>&1 | tail -n 5; then
        echo "FAIL $target"; failed=1
    fi
done
exit $failed
