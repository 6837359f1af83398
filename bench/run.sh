#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Runs the benchmarks (not part of the tests). Sets the machine up first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/../scripts/setup.sh" >/dev/null
# shellcheck source=scripts/lib.sh
. "$here/../scripts/lib.sh"
# matplotlib for the plot; lxml because community.libvirt's virt module needs it on the hypervisor
"$KVMFLEET_VENV/bin/python" -c 'import matplotlib, lxml' 2>/dev/null || "$KVMFLEET_VENV/bin/pip" install -q matplotlib lxml
# bench/run.sh [NAME] [ARGS]: bench/NAME.py (default: guests), e.g. bench/run.sh volume_import --rounds 3
bench=guests
if [ $# -gt 0 ] && [ -f "$here/$1.py" ]; then bench=$1; shift; fi
exec "$KVMFLEET_VENV/bin/python" "$here/$bench.py" "$@"
