#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# README command (a): the controller side (virtual environment, the checkout as kvmfleet.kvm), then
# this machine becomes a KVM/libvirt hypervisor through the collection's host role
# (playbooks/hypervisors.yml) and runs the demo (playbooks/demo.yml) on it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/controller.sh"
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
# the demo guest: a Debian kernel and a busybox initramfs (built once, cached in .cache/images)
apt_install busybox-static cpio
"$here/images/build-tiny.sh" >/dev/null
cd "$KVMFLEET_ROOT"
export KVMFLEET_CACHE
exec ansible-playbook -i scripts/inventory/localhost.yml playbooks/hypervisors.yml playbooks/demo.yml "$@"
