#!/usr/bin/env bash
# Starts virtlogd, virtlockd and libvirtd: through systemd where it runs, by hand otherwise (containers,
# CI machines without an init system). Makes /dev/kvm usable by QEMU (root:kvm 0660, as udev would):
# with /dev/kvm unreadable to the qemu user, libvirt re-probes QEMU on every guest start (~60 s each).
#   daemons.sh start | status
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
say() { printf '==> %s\n' "$*"; }

running() {  # pidfile
    [ -f "$1" ] && $SUDO kill -0 "$(cat "$1")" 2>/dev/null
}

fix_kvm() {
    if [ -c /dev/kvm ] && getent group kvm >/dev/null; then
        if [ "$(stat -c '%G %a' /dev/kvm)" != "kvm 660" ]; then
            say "making /dev/kvm root:kvm 0660"
            $SUDO chgrp kvm /dev/kvm
            $SUDO chmod 0660 /dev/kvm
        fi
    fi
}

start() {
    fix_kvm
    if [ -d /run/systemd/system ]; then
        for unit in virtlogd.socket virtlockd.socket libvirtd.service; do
            systemctl is-active --quiet "$unit" || { say "starting $unit"; $SUDO systemctl enable --now "$unit"; }
        done
    else
        for daemon in virtlogd virtlockd libvirtd; do
            if ! running "/run/$daemon.pid"; then
                say "starting $daemon (no init system runs it here)"
                $SUDO "/usr/sbin/$daemon" -d
            fi
        done
    fi
    for _ in $(seq 1 100); do
        [ -S /run/libvirt/libvirt-sock ] && break
        sleep 0.1
    done
    # the first connection probes QEMU's capabilities (~12 s on a fresh machine, cached after)
    virsh -q -c qemu:///system version >/dev/null
}

status() {
    for daemon in virtlogd virtlockd libvirtd; do
        if running "/run/$daemon.pid"; then echo "$daemon: running"; else echo "$daemon: stopped"; fi
    done
}

case "${1:-start}" in
    start) start ;;
    status) status ;;
    *) echo "usage: $0 start|status" >&2; exit 2 ;;
esac
