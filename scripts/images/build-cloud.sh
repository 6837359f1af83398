#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the full cloud test image: Debian 12 from debootstrap with cloud-init, qemu-guest-agent,
# openssh-server, sudo and python3 on an ext4 root (no partition table, /dev/vda), as a qcow2 base
# image plus the kernel and initrd for direct kernel boot (no boot loader: faster under TCG).
# Offline except for Debian's package archive. Cached in $KVMFLEET_CACHE/images/cloud-<recipe hash>;
# rebuilt only when this recipe changes. Prints the image directory.
# Needs root, debootstrap, mkfs.ext4 (e2fsprogs), qemu-img. Takes ~3 minutes and ~1.3 GB while building.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

recipe=$(sha256sum < "$here/build-cloud.sh" | cut -c1-12)
out="$KVMFLEET_CACHE/images/cloud-$recipe"
link="$KVMFLEET_CACHE/images/cloud"
if [ -f "$out/.complete" ]; then
    ln -sfn "cloud-$recipe" "$link"
    echo "$out"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "build-cloud: debootstrap and chroot need root" >&2; exit 1; }
mirror=$(debian_mirror)
apt_proxy

mkdir -p "$KVMFLEET_CACHE/images"
work=$(mktemp -d "$KVMFLEET_CACHE/images/.cloud-build.XXXXXX")
root="$work/rootfs"
cleanup() {
    for m in dev/pts dev sys proc; do
        if mountpoint -q "$root/$m" 2>/dev/null; then umount -l "$root/$m"; fi
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
}
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
# a /dev of the chroot's own: package scripts in the chroot (udev, systemd) must not chgrp the host's
# device nodes to the chroot's group ids (they did: /dev/kvm went to the host's gid 103, and every
# guest start then took a minute of QEMU capability re-probing)
mount -t tmpfs -o mode=0755,nosuid dev "$root/dev"
for node in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    read -r name major minor <<< "$node"
    mknod -m 0666 "$root/dev/$name" c "$major" "$minor"
done
mkdir "$root/dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    systemd-sysv udev ifupdown isc-dhcp-client openssh-server python3 sudo cloud-init \
    qemu-guest-agent linux-image-amd64 netbase >"$work/install.log" 2>&1 || {
    tail -30 "$work/install.log" >&2
    exit 1
}

# cloud-init's network config (interfaces.d/50-cloud-init) applies only when interfaces sources it
cat > "$root/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback
source /etc/network/interfaces.d/*
EOF
# the seed ISO is the only data source: no probing of cloud metadata services (slow timeouts)
cat > "$root/etc/cloud/cloud.cfg.d/90-kvmfleet.cfg" <<'EOF'
datasource_list: [NoCloud, None]
EOF
echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' > "$root/etc/fstab"
: > "$root/etc/machine-id"  # generated at first boot: every guest gets its own
rm -f "$root/var/lib/dbus/machine-id" "$root/etc/ssh/ssh_host_"*  # regenerated at first boot
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer >/dev/null 2>&1 || true
chroot "$root" apt-get clean

for m in dev/pts dev sys proc; do umount -l "$root/$m"; done
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
rm -rf "$root/var/lib/apt/lists/"* "$root/var/log/"*.log

rm -rf "$out.tmp" && mkdir -p "$out.tmp"
cp "$root"/boot/vmlinuz-* "$out.tmp/vmlinuz"
cp "$root"/boot/initrd.img-* "$out.tmp/initrd.img"
basename "$root"/boot/vmlinuz-* | sed 's/^vmlinuz-//' > "$out.tmp/kernel-version"
mkfs.ext4 -q -L root -d "$root" "$work/disk.raw" 3G >&2  # its "Creating regular file" is not our output
qemu-img convert -O qcow2 "$work/disk.raw" "$out.tmp/disk.qcow2"
chmod 0644 "$out.tmp"/*
touch "$out.tmp/.complete"
rm -rf "$out" && mv "$out.tmp" "$out"
find "$KVMFLEET_CACHE/images" -maxdepth 1 -name "cloud-*" ! -name "cloud-$recipe" -exec rm -rf {} +  # older recipes
ln -sfn "cloud-$recipe" "$link"
echo "$out"
