#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# /init of the tiny test guest: load virtio drivers, take a DHCP lease on the first NIC, print a marker
# with the address on the serial console, power off on the ACPI power button, and stay up.
# Kernel command line switches: kvmfleet.nonet (skip DHCP), kvmfleet.halt (power off after the marker),
# kvmfleet.noacpi (ignore the ACPI power button, like a hung guest), kvmfleet.tick (print a counter every
# second: a guest that keeps running through a live migration counts on, one that rebooted starts
# again), kvmfleet.dirty (rewrite 32 MiB of memory with non-zero data without pause: a migration that
# sends less than that per second never converges).
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
while read -r m; do modprobe "$m" 2>/dev/null; done < /etc/modules
echo "KVMFLEET-TINY-BOOTED kernel=$(uname -r)"

# ACPI power button -> clean power off, so graceful shutdown (virsh shutdown) works
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\necho KVMFLEET-TINY-POWEROFF > /dev/console\nsync\npoweroff -f\n' > /etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
grep -q kvmfleet.noacpi /proc/cmdline || acpid -c /etc/acpi -l /tmp/acpid.log 2>/dev/null

ip link set lo up
addr=none
iface=""
for dev in /sys/class/net/*; do
    [ "${dev##*/}" = lo ] || { iface=${dev##*/}; break; }
done
if [ -n "$iface" ] && ! grep -q kvmfleet.nonet /proc/cmdline; then
    ip link set "$iface" up
    # patient: under TCG on a busy host, dnsmasq's answer (after its ping check of the address) can take
    # seconds, and a client that retries every second may never finish an exchange
    if udhcpc -i "$iface" -s /etc/udhcpc.sh -t 20 -T 3 -n -q >/tmp/udhcpc.log 2>&1; then
        addr=$(ip -4 -o addr show dev "$iface" | awk '{print $4}' | head -n 1)
    else
        sed 's/^/KVMFLEET-TINY-DHCP /' /tmp/udhcpc.log
    fi
fi
mac=$( [ -n "$iface" ] && cat "/sys/class/net/$iface/address" )
echo "KVMFLEET-TINY-READY iface=${iface:-none} mac=${mac:-none} ip=${addr}"

if grep -q kvmfleet.tick /proc/cmdline; then
    ( n=0; while :; do n=$((n + 1)); echo "KVMFLEET-TICK $n"; sleep 1; done ) &
fi
if grep -q kvmfleet.dirty /proc/cmdline; then
    ( while :; do yes kvmfleet-dirty-page | head -c 33554432 > /run/kvmfleet-dirty; done ) &
fi

if grep -q kvmfleet.halt /proc/cmdline; then
    poweroff -f
fi
while :; do sleep 3600; done
