#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the tiny test guest: a Debian kernel plus a busybox initramfs (see tiny-init.sh), booted
# directly by libvirt (<os><kernel>/<initrd>). Cached in $KVMFLEET_CACHE/images/tiny-<recipe hash>;
# rebuilt only when this recipe changes. Prints the image directory.
# Needs: apt-get (the kernel package), busybox-static, cpio, gzip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

recipe=$(cat "$here/build-tiny.sh" "$here/tiny-init.sh" | sha256sum | cut -c1-12)
out="$KVMFLEET_CACHE/images/tiny-$recipe"
link="$KVMFLEET_CACHE/images/tiny"
if [ -f "$out/.complete" ]; then
    ln -sfn "tiny-$recipe" "$link"
    echo "$out"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

kernel_package() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
kpkg=$(kernel_package)
if [ -z "$kpkg" ]; then  # no package lists yet on this machine
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
    kpkg=$(kernel_package)
fi
[ -n "$kpkg" ] || { echo "build-tiny: no linux-image-amd64 package in the apt sources" >&2; exit 1; }
(cd "$work" && apt-get -o APT::Sandbox::User=root download "$kpkg" >/dev/null)
dpkg-deb -x "$work"/"$kpkg"_*.deb "$work/kernel"
kver=$(ls "$work/kernel/lib/modules")
busybox depmod -b "$work/kernel" "$kver"

root="$work/initramfs"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,usr/bin,usr/sbin,"lib/modules/$kver"}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$here/tiny-init.sh" "$root/init"
cat > "$root/etc/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
case "$1" in
    bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
        ;;
esac
exit 0
SCRIPT
chmod 0755 "$root/etc/udhcpc.sh"

# the drivers the tests' guests use, with their dependencies
modules="virtio_pci virtio_net virtio_blk virtio_scsi virtio_balloon virtio_console virtio-rng sr_mod button evdev"
depfile="$work/kernel/lib/modules/$kver/modules.dep"
: > "$root/lib/modules/$kver/modules.dep"
for m in $modules; do
    line=$(grep -E "/$m\.ko:" "$depfile")
    echo "$line" >> "$root/lib/modules/$kver/modules.dep"
    for f in ${line/:/}; do
        mkdir -p "$root/lib/modules/$kver/$(dirname "$f")"
        cp "$work/kernel/lib/modules/$kver/$f" "$root/lib/modules/$kver/$f"
        dep="${f##*/}"; dep="${dep%.ko}"
        grep -qE "/$dep\.ko:" "$root/lib/modules/$kver/modules.dep" || grep -E "/$dep\.ko:" "$depfile" >> "$root/lib/modules/$kver/modules.dep"
    done
done
echo "$modules" | tr ' ' '\n' > "$root/etc/modules"

rm -rf "$out.tmp" && mkdir -p "$out.tmp"
cp "$work/kernel/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$out.tmp/initrd.img"
echo "$kver" > "$out.tmp/kernel-version"
chmod 0644 "$out.tmp"/*
touch "$out.tmp/.complete"
rm -rf "$out" && mv "$out.tmp" "$out"
find "$KVMFLEET_CACHE/images" -maxdepth 1 -name "tiny-*" ! -name "tiny-$recipe" -exec rm -rf {} +  # older recipes
ln -sfn "tiny-$recipe" "$link"
echo "$out"
