#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the podman image of a bare Debian 12 machine with systemd as PID 1: the test host of the
# `host` role's molecule scenario (molecule/host-container). debootstrap rootfs -> `podman import`.
# No QEMU or libvirt inside: installing them is the role's job. Cached as the podman image
# localhost/kvmfleet-host:<recipe hash>, tagged latest (and its rootfs tarball in $KVMFLEET_CACHE/images); rebuilt
# only when this recipe changes. Prints the image name.
# Needs: root, debootstrap, podman.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

recipe=$(sha256sum "$here/build-host-container.sh" | cut -c1-12)
image="localhost/kvmfleet-host:$recipe"
tarball="$KVMFLEET_CACHE/images/host-container-$recipe.tar"
latest=localhost/kvmfleet-host:latest  # what molecule/host-container runs
if podman image exists "$image"; then
    podman tag "$image" "$latest"
    echo "$image"
    exit 0
fi
if [ ! -f "$tarball" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    rootfs="$work/rootfs"
    mirror=$(debian_mirror)
    apt_proxy
    debootstrap --variant=minbase --include=systemd-sysv,python3,ca-certificates,procps,iproute2 \
        bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/" 2>/dev/null \
        && rm -f "$rootfs/etc/apt/sources.list"
    # a container, not a booted machine: no fstab remount, no network setup, and never udev (a
    # `udevadm trigger` from a privileged container reaches the host's devices, eth0 included)
    : > "$rootfs/etc/fstab"
    for unit in systemd-remount-fs.service networking.service systemd-udevd.service \
        systemd-udev-trigger.service systemd-udev-settle.service systemd-udevd-control.socket \
        systemd-udevd-kernel.socket getty@tty1.service console-getty.service; do
        ln -sfn /dev/null "$rootfs/etc/systemd/system/$unit"
    done
    rm -f "$rootfs/etc/machine-id"
    : > "$rootfs/etc/machine-id"  # systemd makes a fresh one at each container start
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb
    mkdir -p "$(dirname "$tarball")"
    tar -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
fi
podman import -q --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL=SIGRTMIN+3' "$tarball" "$image" >/dev/null
podman tag "$image" "$latest"
echo "$image"
