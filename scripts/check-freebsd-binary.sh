#!/usr/bin/env bash
# Checks that BINARY is a 64-bit FreeBSD executable that needs only FreeBSD base libraries.
#
# Usage: scripts/check-freebsd-binary.sh BINARY
# Fails loudly (exit 1, naming the problem) when:
#   - `file` does not say "ELF 64-bit" and "FreeBSD";
#   - the ELF carries neither OS/ABI "FreeBSD" nor a FreeBSD ABI note (.note.tag, NT_VERSION);
#   - the program interpreter is not /libexec/ld-elf.so.1 (for a dynamic executable);
#   - a NEEDED library is outside FreeBSD base, explicitly including libpcap, libssl, libcrypto.
# Needs: file, readelf (binutils).
set -euo pipefail

die() { echo "check-freebsd-binary: FAIL: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 64; }
binary="$1"
[ -f "$binary" ] || die "no such file: $binary"
for tool in file readelf; do
    command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found (apt-get install file binutils)"
done

description="$(file -b "$binary")"
case "$description" in
    *"ELF 64-bit"*) ;;
    *) die "$binary is not a 64-bit ELF: $description" ;;
esac
case "$description" in
    *FreeBSD*) ;;
    *) die "file(1) does not call $binary a FreeBSD binary: $description" ;;
esac

# Branding: the kernel's ELF image activator accepts EI_OSABI=FreeBSD or the ABI note tag.
osabi="$(readelf -h "$binary" | sed -n 's/^ *OS\/ABI: *//p')"
notes="$(readelf -n "$binary" 2>/dev/null || true)"
if [[ "$osabi" != *FreeBSD* ]] && ! grep -Eq '^[[:space:]]+FreeBSD[[:space:]]+0x[0-9a-f]+[[:space:]]+NT_VERSION' <<<"$notes"; then
    die "$binary has OS/ABI '$osabi' and no FreeBSD NT_VERSION note"
fi
abi_version=""
if grep -Eq 'NT_VERSION' <<<"$notes"; then
    # The note's 4 bytes are __FreeBSD_version, little-endian (e.g. b4 5e 15 00 = 1400500).
    bytes="$(grep -A1 -E 'FreeBSD[[:space:]]+0x[0-9a-f]+[[:space:]]+NT_VERSION' <<<"$notes" | sed -n 's/.*description data: *//p' | head -n1)"
    if [ -n "$bytes" ]; then
        read -r b0 b1 b2 b3 _ <<<"$bytes"
        abi_version=$((16#$b3$b2$b1$b0))
    fi
fi

needed="$(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
interp="$(readelf -l "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')"
if [ -n "$needed" ] && [ "$interp" != "/libexec/ld-elf.so.1" ]; then
    die "$binary asks for interpreter '$interp', not FreeBSD's /libexec/ld-elf.so.1"
fi

# Libraries every FreeBSD 14 base system has in /lib or /usr/lib.
base_libs=" libc.so.7 libm.so.5 libthr.so.3 libgcc_s.so.1 libutil.so.9 libexecinfo.so.1 libelf.so.2 libkvm.so.7 libcxxrt.so.1 libc++.so.1 libz.so.6 libmd.so.6 librt.so.1 libdl.so.1 "
bad=""
while IFS= read -r lib; do
    [ -n "$lib" ] || continue
    case "$lib" in
        libpcap*|libssl*|libcrypto*) bad="$bad $lib(forbidden)"; continue ;;
    esac
    [[ "$base_libs" == *" $lib "* ]] || bad="$bad $lib(not in FreeBSD base)"
done <<<"$needed"
[ -z "$bad" ] || die "$binary needs libraries outside FreeBSD base:$bad"

echo "check-freebsd-binary: OK: $binary"
echo "  file:        $description"
echo "  OS/ABI:      $osabi${abi_version:+, FreeBSD ABI note $abi_version}"
echo "  interpreter: ${interp:-none (static)}"
echo "  NEEDED:      $(echo $needed)"
echo "  size:        $(stat -c %s "$binary") bytes"
