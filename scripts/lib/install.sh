# shellcheck shell=bash
# Installs what scripts/check and scripts/demo.sh need on Debian 12, as root, and only what is
# missing: when everything is there it only asks dpkg, rustup and the venvs, in a second or two.
# Sourced, not run. Every function returns non-zero on failure (callers may run without set -e).
#
#   install_for_check [--quick]  everything scripts/check uses (--quick: what the cargo stages use:
#                                no fuzzing, npm or venvs)
#   install_for_demo             what scripts/demo.sh uses: the lab's packages and Rust
#
# Package lists, one a line, # comments:
#   ci/build-packages.txt        building mailpulse; fetching rustup, crates, PyPI and npm over TLS
#   ci/packages.txt              the checks beyond the lab (packaging, browser, faults)
#   tests/lab/packages.txt       the lab: servers, resolver, clients, capture tools

INSTALL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH=$HOME/.cargo/bin:$PATH
export DEBIAN_FRONTEND=noninteractive

_install_say() { echo "install: $*" >&2; }

_apt_updated=0

# _apt_get_install PACKAGE...: apt-get install, after one apt-get update per run (a fresh
# machine or container may have no package lists at all).
_apt_get_install() {
    if [ "$(id -u)" != 0 ]; then
        _install_say "not root: cannot install the missing Debian packages: $*"
        return 1
    fi
    _install_say "apt-get install $*"
    if [ $_apt_updated = 0 ]; then
        apt-get update -qq || return 1
        _apt_updated=1
    fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# install_apt FILE...: the Debian packages listed in the files that are not installed yet.
install_apt() {
    local wanted missing
    wanted=$(cd "$INSTALL_ROOT" && sed 's/#.*//' "$@" | awk '{ for (i = 1; i <= NF; i++) print $i }' |
        LC_ALL=C sort -u) || return 1
    [ -n "$wanted" ] || return 0
    # dpkg-query names only the packages it knows; unknown or removed ones are missing too.
    # shellcheck disable=SC2086 # one word per package
    missing=$(LC_ALL=C comm -23 <(echo "$wanted") <(
        dpkg-query -W -f='${db:Status-Status} ${Package}\n' $wanted 2>/dev/null |
            awk '$1 == "installed" { print $2 }' | LC_ALL=C sort -u))
    [ -z "$missing" ] && return 0
    # shellcheck disable=SC2086
    _apt_get_install $missing
}

# install_rust: rustup's stable toolchain with rustfmt and clippy (rustup itself when no cargo).
install_rust() {
    if ! command -v cargo >/dev/null; then
        _install_say "rustup (stable, minimal profile) from https://sh.rustup.rs"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --quiet --profile minimal --default-toolchain stable || return 1
    fi
    command -v rustup >/dev/null || { _install_say "cargo found but no rustup"; return 1; }
    local installed
    installed=$(rustup component list --installed 2>/dev/null) || return 1
    for component in rustfmt clippy; do
        grep -q "^$component" <<<"$installed" && continue
        _install_say "rustup component add $component"
        rustup component add "$component" || return 1
    done
}

# install_fuzzing: the nightly toolchain and cargo-fuzz, for fuzz/run-short.sh.
install_fuzzing() {
    if ! rustup toolchain list | grep -q '^nightly'; then
        _install_say "rustup toolchain install nightly"
        rustup toolchain install nightly --profile minimal || return 1
    fi
    if ! command -v cargo-fuzz >/dev/null; then
        _install_say "cargo install cargo-fuzz"
        cargo install cargo-fuzz --locked || return 1
    fi
}

# install_node: npm for the browser test. The machine's own Node.js when there is one
# (NodeSource's nodejs carries npm and conflicts with Debian's npm package), else Debian's.
install_node() {
    command -v npm >/dev/null && return 0
    _apt_get_install nodejs npm
}

# install_zig_venv: PyPI's ziglang and cargo-zigbuild in .venv-zig, for the FreeBSD cross-build
# (scripts/build-freebsd.sh) and the ABI check (scripts/check-freebsd-abi).
install_zig_venv() {
    local venv=$INSTALL_ROOT/.venv-zig
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv" || { _install_say "python3 -m venv failed (apt-get install python3-venv)"; return 1; }
    fi
    if ! "$venv/bin/python" -c 'import ziglang' 2>/dev/null || [ ! -x "$venv/bin/cargo-zigbuild" ]; then
        _install_say "pip install ziglang cargo-zigbuild into .venv-zig"
        "$venv/bin/pip" install --quiet --upgrade pip || return 1
        "$venv/bin/pip" install --quiet ziglang cargo-zigbuild || return 1
    fi
}

# install_packaging_venv: pytest and jinja2 for tests/packaging/run.sh, in the venv it would
# create itself, when the system's python3 lacks them.
install_packaging_venv() {
    python3 -c 'import pytest, jinja2' 2>/dev/null && return 0
    local venv=$INSTALL_ROOT/tests/packaging/.venv
    [ -x "$venv/bin/python" ] && return 0
    _install_say "pip install pytest jinja2 into tests/packaging/.venv"
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet pytest jinja2
}

install_for_check() {
    if [ "${1:-}" = "--quick" ]; then
        # The cargo tests run dovecot, tshark/editcap, openssl and ip: the lab's packages.
        install_apt ci/build-packages.txt tests/lab/packages.txt && install_rust
        return
    fi
    install_apt ci/build-packages.txt ci/packages.txt tests/lab/packages.txt &&
        install_rust &&
        install_fuzzing &&
        install_node &&
        install_zig_venv &&
        install_packaging_venv
}

install_for_demo() {
    install_apt ci/build-packages.txt tests/lab/packages.txt && install_rust
}
