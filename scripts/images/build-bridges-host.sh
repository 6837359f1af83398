#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the podman image of a Debian 12 machine with systemd as PID 1 and the three network stacks
# the `bridges` role supports (ifupdown + bridge-utils, systemd-networkd, NetworkManager):
# the test host of molecule/bridges and tests/integration/test_bridges_container.py.
# debootstrap rootfs -> `podman import`. Cached as localhost/kvmfleet-bridges-host:<recipe hash>,
# tagged latest (rootfs tarball in $KVMFLEET_CACHE/images); rebuilt only when this recipe changes.
# Prints the image name. Needs: root, debootstrap, podman.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

recipe=$(sha256sum "$here/build-bridges-host.sh" | cut -c1-12)
image="localhost/kvmfleet-bridges-host:$recipe"
latest=localhost/kvmfleet-bridges-host:latest
tarball="$KVMFLEET_CACHE/images/bridges-host-$recipe.tar"
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
    debootstrap --variant=minbase \
        --include=systemd-sysv,dbus,python3,iproute2,iputils-ping,procps,ifupdown,bridge-utils \
        bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
    # NetworkManager in a chroot afterwards: inside debootstrap its polkitd fails to configure
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod +x "$rootfs/usr/sbin/policy-rc.d"
    mount --bind /proc "$rootfs/proc"
    trap 'umount "$rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
    chroot "$rootfs" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends network-manager' >"$work/nm.log" 2>&1 || { tail -n 30 "$work/nm.log" >&2; exit 1; }
    umount "$rootfs/proc"
    rm -f "$rootfs/usr/sbin/policy-rc.d" "$rootfs/etc/resolv.conf"
    # a container, not a booted machine: no fstab remount, and NEVER udev (a `udevadm trigger` from a
    # privileged container reaches the host's devices and renamed the host's eth0 once)
    : >"$rootfs/etc/fstab"
    for unit in systemd-remount-fs.service systemd-udevd.service systemd-udev-trigger.service \
        systemd-udev-settle.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
        getty@tty1.service console-getty.service; do
        ln -sfn /dev/null "$rootfs/etc/systemd/system/$unit"
    done
    # no network stack runs at start: a test enables the one it tests (networking.service would
    # otherwise `ifup -a`; NetworkManager would manage every link)
    rm -f "$rootfs"/etc/systemd/system/*.wants/networking.service \
        "$rootfs"/etc/systemd/system/*.wants/NetworkManager*.service \
        "$rootfs"/etc/systemd/system/dbus-org.freedesktop.nm-dispatcher.service
    rm -f "$rootfs/etc/machine-id"
    : >"$rootfs/etc/machine-id"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    mkdir -p "$(dirname "$tarball")"
    tar -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
fi
podman import -q --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL=SIGRTMIN+3' "$tarball" "$image" >/dev/null
podman tag "$image" "$latest"
echo "$image"
