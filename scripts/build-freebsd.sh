#!/usr/bin/env bash
# Cross-builds mailpulse for FreeBSD with cargo-zigbuild (zig as the C compiler and linker, so
# ring's C/assembly and the final link work without a FreeBSD sysroot).
#
# Usage: scripts/build-freebsd.sh [--arch x86_64|aarch64] [--debug] [--check] [--no-verify]
#   --arch     target architecture (default x86_64; aarch64 is tier 3: nightly + -Zbuild-std)
#   --debug    build the debug profile instead of --release
#   --check    type-check only (cargo check, no zig needed); still fails on any FreeBSD-only error
#   --no-verify  skip scripts/check-freebsd-binary.sh on the result
#
# Installs what it needs when it is missing: the rustup target (or rust-src for aarch64), and a
# Python venv at .venv-zig in the repository root holding PyPI's `ziglang` and `cargo-zigbuild`.
# Exits non-zero on any failure, including a type error in FreeBSD-only code.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

arch="x86_64"
profile="release"
mode="build"
verify=1
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch="${2:?--arch needs x86_64 or aarch64}"; shift 2 ;;
        --arch=*) arch="${1#--arch=}"; shift ;;
        --debug) profile="debug"; shift ;;
        --check) mode="check"; shift ;;
        --no-verify) verify=0; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "build-freebsd: unknown argument: $1" >&2; exit 64 ;;
    esac
done

case "$arch" in
    x86_64|aarch64) ;;
    *) echo "build-freebsd: unsupported --arch '$arch' (x86_64 or aarch64)" >&2; exit 64 ;;
esac
target="${arch}-unknown-freebsd"

die() { echo "build-freebsd: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "required tool '$1' not found"; }

need cargo
need rustup
need python3

# --- Rust side -------------------------------------------------------------------------------
toolchain_args=()
build_std_args=()
if [ "$arch" = "aarch64" ]; then
    # aarch64-unknown-freebsd is tier 3: no prebuilt std, so build it with nightly.
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    rustup component list --toolchain nightly --installed | grep -q '^rust-src' \
        || rustup component add rust-src --toolchain nightly
    toolchain_args=(+nightly)
    build_std_args=(-Zbuild-std=std,panic_abort)
else
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
fi

profile_args=()
[ "$profile" = "release" ] && profile_args=(--release)

if [ "$mode" = "check" ]; then
    # Type-checking needs no linker: this is the fast per-commit gate for FreeBSD-only code.
    cargo "${toolchain_args[@]}" check --locked "${build_std_args[@]}" "${profile_args[@]}" \
        --target "$target" --all-targets
    echo "build-freebsd: cargo check for $target passed"
    exit 0
fi

# --- zig + cargo-zigbuild in a private venv (the installer scripts/check uses) -----------------
venv="$repo_root/.venv-zig"
# shellcheck source=scripts/lib/install.sh
source "$repo_root/scripts/lib/install.sh"
install_zig_venv || die "could not install ziglang and cargo-zigbuild into $venv"
[ -x "$venv/bin/cargo-zigbuild" ] || die "cargo-zigbuild missing from $venv after install"
export PATH="$venv/bin:$PATH"

# Zig's default FreeBSD target has no version suffix; it links against zig's bundled FreeBSD
# libc stubs (FreeBSD 14 ABI in ziglang >= 0.14). cargo-zigbuild passes the target through.
cargo "${toolchain_args[@]}" zigbuild --locked "${build_std_args[@]}" "${profile_args[@]}" \
    --target "$target" --bin mailpulse

binary="$repo_root/target/$target/$profile/mailpulse"
[ -f "$binary" ] || die "build finished but $binary is missing"
echo "build-freebsd: built $binary"

if [ "$verify" = 1 ]; then
    "$repo_root/scripts/check-freebsd-binary.sh" "$binary"
fi
