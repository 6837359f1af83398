#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Runs the network benchmark (not part of the tests). Sets the machine up first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/../scripts/setup.sh" >/dev/null
# shellcheck source=scripts/lib.sh
. "$here/../scripts/lib.sh"
# lxml: community.libvirt's virt_net needs it on the hypervisor
"$KVMFLEET_VENV/bin/python" -c 'import lxml' 2>/dev/null || "$KVMFLEET_VENV/bin/pip" install -q lxml
exec "$KVMFLEET_VENV/bin/python" "$here/network.py" "$@"
