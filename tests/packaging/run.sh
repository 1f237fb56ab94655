#!/bin/sh
# Runs the packaging tests (rc.d, configd, .pkg builder, man pages, OPNsense and pfSense
# packages) with pytest and prints pytest's summary.
#
# Prerequisites:
#   - python3 >= 3.11 (tomllib) with venv support (Debian: python3-venv);
#   - pytest and jinja2: used from the system when importable, otherwise installed with pip
#     into tests/packaging/.venv (needs PyPI access the first time);
#   - php-cli (php -l), mandoc (mandoc -T lint), xz-utils and zstd are checked by the tests
#     themselves, which fail naming the missing tool.
# Environment:
#   MAILPULSE          mailpulse binary for check-config of rendered templates and for the
#                      live configd test (required by those tests; they fail without it)
#   MAILPULSE_SOCKET   control socket of a running daemon (test_configd_live.py)
#   MAILPULSE_FREEBSD_BIN  cross-compiled FreeBSD binary to package (optional; a stand-in
#                      ELF file is used otherwise)
# Arguments are passed to pytest; with no test path the whole suite runs. Examples:
#   run.sh tests/packaging/test_pkg.py      run.sh tests/packaging -k widget
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${PYTHON:-python3}

if "$python" -c 'import pytest, jinja2' 2>/dev/null; then
	runner="$python"
else
	venv="$here/.venv"
	if [ ! -x "$venv/bin/python" ]; then
		echo "run.sh: pytest or jinja2 missing; creating $venv" >&2
		"$python" -m venv "$venv"
		"$venv/bin/pip" install --quiet pytest jinja2
	fi
	runner="$venv/bin/python"
fi

# Default to the whole packaging suite unless a test path was given.
has_path=no
for arg in "$@"; do
	case "$arg" in
	-*) ;;
	*) has_path=yes ;;
	esac
done
[ "$has_path" = yes ] || set -- "$@" tests/packaging

cd "$repo"
exec "$runner" -m pytest -p no:cacheprovider -rfE "$@"
