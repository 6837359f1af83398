#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The controller side of this checkout, for the demo and the tests: a virtual environment with the pinned
# controller tools (requirements-dev.txt) and the checkout made importable as the collection
# kvmfleet.kvm (.cache/collections). Idempotent; a second run takes well under a second.
# The hypervisor itself (QEMU, libvirt, daemons) is the host role's job: playbooks/hypervisors.yml.
# Debian/Ubuntu: installs what building the venv needs (python3-venv; libvirt-dev, pkg-config and gcc
# for libvirt-python). Elsewhere install those yourself (README.md, "Other distributions").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

# 1. what building the virtual environment needs
if command -v dpkg-query >/dev/null; then
    apt_install python3-venv libvirt-dev pkg-config gcc git
fi

# 2. virtual environment with the pinned controller tools
stamp="$KVMFLEET_VENV/.requirements.sha256"
want=$(sha256sum "$KVMFLEET_ROOT/requirements-dev.txt" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "creating the virtual environment $KVMFLEET_VENV"
    python3 -m venv "$KVMFLEET_VENV"
    "$KVMFLEET_VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
    "$KVMFLEET_VENV/bin/pip" install -q --disable-pip-version-check -r "$KVMFLEET_ROOT/requirements-dev.txt"
    echo "$want" > "$stamp"
fi

# 3. the checkout as the collection kvmfleet.kvm
mkdir -p "$KVMFLEET_COLLECTIONS/ansible_collections/kvmfleet"
if [ "$(readlink "$KVMFLEET_COLLECTIONS/ansible_collections/kvmfleet/kvm" 2>/dev/null)" != "$KVMFLEET_ROOT" ]; then
    ln -sfn "$KVMFLEET_ROOT" "$KVMFLEET_COLLECTIONS/ansible_collections/kvmfleet/kvm"
fi
