#!/usr/bin/env bash
# Runs the benchmarks (not part of the tests). Sets the machine up first; installs matplotlib for the plot.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/../scripts/setup.sh" >/dev/null
# shellcheck source=scripts/lib.sh
. "$here/../scripts/lib.sh"
"$KVMFLEET_VENV/bin/python" -c 'import matplotlib' 2>/dev/null || "$KVMFLEET_VENV/bin/pip" install -q matplotlib
exec "$KVMFLEET_VENV/bin/python" "$here/guests.py" "$@"
