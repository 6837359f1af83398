#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# README command (b): run every test - unit, integration on the real libvirtd, static checks
# (ruff, ansible-lint, ansible-test sanity). Sets the machine up first (fast when already done).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -k host.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh"
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
cd "$KVMFLEET_ROOT"
exec "$KVMFLEET_VENV/bin/python" -m pytest "$@"
