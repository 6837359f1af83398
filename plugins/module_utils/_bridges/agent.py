# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The on-host agent of ``host_bridges``: the switch to a new configuration with an armed rollback.

The module decides what changes and prepares the state directory; this script does only what must
outlive the module (and the controller's connection, which the change may cut): it saves the current
configuration, arms the rollback, switches, waits for the check targets and confirms. The module
writes it into the state directory at each apply (``NAME``) and runs it with bash.
"""

from __future__ import annotations

# ruff: noqa: E501 - the script is bash; its lines stay within 160 characters

NAME = "kvmfleet-netapply"

SCRIPT = r"""#!/usr/bin/env bash
# Written by kvmfleet.kvm.host_bridges at each apply: the switch with an armed rollback.
#
#   kvmfleet-netapply STATE_DIR
#
# STATE_DIR holds what the module prepared:
#   stage/      the complete configuration to install, by installed file name
#   current/    the configuration installed now (it becomes the backup)
#   ports       interfaces the bridges take over, one a line
#   targets     addresses that must answer ping after the change, one a line
#   settings    BACKEND=ifupdown|systemd_networkd|networkmanager CHECK_TIMEOUT=s ROLLBACK_TIMEOUT=s
# The module holds STATE_DIR/lock while this runs; the rollback takes it before it restores.
#
# Save the current configuration, ARM A ROLLBACK (NetworkManager: a checkpoint that NetworkManager
# itself rolls back after ROLLBACK_TIMEOUT seconds; otherwise a process of its own session that
# restores the saved files and interfaces ROLLBACK_TIMEOUT seconds after it was armed unless the
# change was confirmed), switch, then ping the targets for up to CHECK_TIMEOUT seconds. All answer:
# confirm (disarm). Otherwise exit 3 and leave the rollback armed: the previous configuration comes
# back by itself, also when the process that started this (an SSH session over the changed link) is
# gone. A switch that reports errors (ifup, networkctl, nmcli) is rolled back at once. The backup of
# the last known-good configuration is never replaced by a configuration that was not confirmed.
#
# Output (last line): "changed" or "failed: ...".
set -u
STATE=${1:?usage: kvmfleet-netapply STATE_DIR}
BACKEND=ifupdown
CHECK_TIMEOUT=30
ROLLBACK_TIMEOUT=90
# shellcheck disable=SC1091
[ -f "$STATE/settings" ] && . "$STATE/settings"
ETC=/etc/network
MAIN=$ETC/interfaces
NETD=/etc/systemd/network
NMDIR=/etc/NetworkManager/system-connections
NM_BUS=(org.freedesktop.NetworkManager /org/freedesktop/NetworkManager org.freedesktop.NetworkManager)
export STATE BACKEND ETC MAIN NETD NMDIR

ifaces_of() { # the interfaces a configuration directory declares (ifupdown stanzas, networkd netdevs)
    local dir=$1
    if [ "$BACKEND" = ifupdown ]; then
        [ -f "$dir/kvmfleet-bridges" ] && awk '$1 == "iface" && !seen[$2]++ { print $2 }' "$dir/kvmfleet-bridges"
    elif [ "$BACKEND" = networkmanager ]; then
        cat "$dir"/kvmfleet-bridge-* "$dir"/kvmfleet-vlan-* 2>/dev/null | awk -F= '$1 == "interface-name" { print $2 }'
    else
        cat "$dir"/*.netdev 2>/dev/null | awk -F= '$1 == "Name" { print $2 }'
    fi
    return 0
}

# run CMD... and append "CMD: its last output lines" to $ERRORS when it fails
try() {
    local out
    out=$("$@" 2>&1) && return 0
    echo "$*: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')" >>"$ERRORS"
    return 1
}

# switch FROM TO PORTS: take down what FROM declares (and the PORTS), install TO, bring it up.
# Failures of ifup / networkctl / nmcli are appended to the file $ERRORS.
switch() {
    local from=$1 to=$2 ports=$3 iface file
    if [ "$BACKEND" = ifupdown ]; then
        for iface in $(ifaces_of "$from" | tac) $(cat "$ports"); do
            ifdown --force "$iface" >/dev/null 2>&1
        done
        for iface in $(ifaces_of "$from" | tac); do
            if [ -e "/sys/class/net/$iface/bridge" ] || [ -e "/proc/net/vlan/$iface" ]; then
                ip link del "$iface" 2>/dev/null
            fi
        done
        while read -r iface; do
            [ -n "$iface" ] && ip addr flush dev "$iface" 2>/dev/null
        done <"$ports"
        mkdir -p "$ETC/interfaces.d"
        if [ -s "$to/kvmfleet-bridges" ]; then
            cp "$to/kvmfleet-bridges" "$ETC/interfaces.d/kvmfleet-bridges"
        else
            rm -f "$ETC/interfaces.d/kvmfleet-bridges"
        fi
        [ -f "$to/interfaces" ] && cp "$to/interfaces" "$MAIN"
        for iface in $(cat "$ports") $(ifaces_of "$to"); do
            grep -qsE "^[[:space:]]*iface[[:space:]]+${iface}[[:space:]]" "$MAIN" "$ETC/interfaces.d/kvmfleet-bridges" \
                && try ifup "$iface"
        done
    elif [ "$BACKEND" = networkmanager ]; then
        rm -f "$NMDIR"/kvmfleet-*.nmconnection
        mkdir -p "$NMDIR"
        for file in "$to"/*.nmconnection; do
            [ -e "$file" ] && install -m 0600 "$file" "$NMDIR/"
        done
        try nmcli connection reload
        for iface in $(ifaces_of "$from"); do
            ifaces_of "$to" | grep -qx "$iface" || nmcli device delete "$iface" >/dev/null 2>&1
        done
        for file in "$to"/kvmfleet-bridge-* "$to"/kvmfleet-vlan-* "$to"/kvmfleet-port-*; do
            [ -e "$file" ] && try nmcli connection up id "$(basename "$file" .nmconnection)"
        done
    else
        # networkd does not change or remove an existing netdev: delete those that go or change
        for file in "$from"/*.netdev; do
            [ -e "$file" ] || continue
            if ! cmp -s "$file" "$to/$(basename "$file")"; then
                ip link del "$(awk -F= '$1 == "Name" { print $2 }' "$file")" 2>/dev/null
            fi
        done
        rm -f "$NETD"/*-kvmfleet-*
        mkdir -p "$NETD"
        for file in "$to"/*; do
            [ -e "$file" ] && cp "$file" "$NETD/"
        done
        try networkctl reload
        for iface in $(cat "$ports") $(ifaces_of "$to"); do
            [ -e "/sys/class/net/$iface" ] && try networkctl reconfigure "$iface"
        done
    fi
    return 0
}
export -f ifaces_of switch try

# $STATE/armed      KEY=value lines while a change is neither confirmed nor rolled back: ARMED_AT and
#                   DEADLINE (epoch seconds), ARMED_BACKEND, CHECKPOINT (NetworkManager), BOOT_ID
# $STATE/armed.d    the configuration the armed rollback takes down (stage, ports)
# $STATE/backup     the last known-good configuration, which the rollback restores
# $STATE/lock       held by the module while it plans and applies, and by the rollback while it restores

armed_get() { awk -F= -v key="$1" '$1 == key { print $2 }' "$STATE/armed" 2>/dev/null; }
at() { date -u -d "@$1" +%FT%TZ; }

disarm() {
    if [ "$BACKEND" = networkmanager ]; then
        busctl call "${NM_BUS[@]}" CheckpointDestroy o "$(armed_get CHECKPOINT)" >/dev/null 2>&1
    else
        pkill -P "$(cat "$STATE/rollback.pid")" 2>/dev/null
        kill "$(cat "$STATE/rollback.pid")" 2>/dev/null
    fi
    rm -f "$STATE/rollback.pid"
}

rollback_now() { # restore the backup at once (the switch failed)
    echo "$(date -u +%FT%TZ) rollback: the switch failed; restoring the previous configuration now" >>"$STATE/rollback.log"
    if [ "$BACKEND" = networkmanager ]; then
        ERRORS=$STATE/rollback.log try busctl call "${NM_BUS[@]}" CheckpointRollback o "$(armed_get CHECKPOINT)"
    else
        disarm
        ERRORS=$STATE/rollback.log switch "$STATE/armed.d/stage" "$STATE/backup" "$STATE/armed.d/ports"
    fi
    echo "$(date -u +%FT%TZ) rollback: done" >>"$STATE/rollback.log"
    touch "$STATE/rolled-back"
    rm -f "$STATE/armed"
}

mkdir -p "$STATE/current"
if [ -e "$STATE/armed" ] && [ -d "$STATE/backup" ]; then
    # the previous change was never confirmed and no rollback of ours ran (a reboot killed it, or
    # NetworkManager rolled its checkpoint back): the backup stays the last known-good configuration
    echo "note: the change armed at $(at "$(armed_get ARMED_AT)") was never confirmed;" \
        "keeping its backup as the configuration to come back to"
    rm -rf "$STATE/current"
else
    rm -rf "$STATE/backup"
    mv "$STATE/current" "$STATE/backup"
fi
rm -rf "$STATE/confirmed" "$STATE/rolled-back" "$STATE/armed.d"
mkdir -p "$STATE/armed.d"
cp -r "$STATE/stage" "$STATE/armed.d/stage"
cp "$STATE/ports" "$STATE/armed.d/ports"

# The rollback, armed before anything changes. NetworkManager: a checkpoint of every device, which
# NetworkManager rolls back by itself when the timeout passes (and deletes connections made since).
now=$(date +%s)
checkpoint=""
if [ "$BACKEND" = networkmanager ]; then
    checkpoint=$(busctl call "${NM_BUS[@]}" CheckpointCreate aouu 0 "$ROLLBACK_TIMEOUT" 7 | awk '{ gsub(/"/, "", $2); print $2 }')
    [ -n "$checkpoint" ] || { echo "failed: NetworkManager made no checkpoint; nothing was changed"; exit 3; }
fi
BOOT_ID=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)
printf 'ARMED_AT=%s\nDEADLINE=%s\nARMED_BACKEND=%s\nCHECKPOINT=%s\nBOOT_ID=%s\n' \
    "$now" $((now + ROLLBACK_TIMEOUT)) "$BACKEND" "$checkpoint" "$BOOT_ID" >"$STATE/armed"
# Otherwise a process of its own session that outlives this one and the module.
# shellcheck disable=SC2016 # expanded by the detached shell
if [ "$BACKEND" != networkmanager ]; then
    setsid bash -c '
        sleep "$0"
        exec 9>"$STATE/lock"
        flock 9
        [ -e "$STATE/confirmed" ] && exit 0
        echo "$(date -u +%FT%TZ) rollback: targets not confirmed in time; restoring the previous configuration" >>"$STATE/rollback.log"
        ERRORS=$STATE/rollback.log switch "$STATE/armed.d/stage" "$STATE/backup" "$STATE/armed.d/ports"
        echo "$(date -u +%FT%TZ) rollback: done" >>"$STATE/rollback.log"
        touch "$STATE/rolled-back"
        rm -f "$STATE/armed"
    ' "$ROLLBACK_TIMEOUT" </dev/null >>"$STATE/rollback.log" 2>&1 &
    echo $! >"$STATE/rollback.pid"
fi

ERRORS=$STATE/switch-errors
: >"$ERRORS"
export ERRORS
switch "$STATE/backup" "$STATE/stage" "$STATE/ports"
# ifup says nothing about a port that does not exist, and networkd creates its links a moment later:
# every port and every interface of the new configuration must be there within CHECK_TIMEOUT seconds
deadline=$((SECONDS + CHECK_TIMEOUT))
while :; do
    absent=""
    for iface in $({ cat "$STATE/ports"; ifaces_of "$STATE/stage"; } | awk 'NF && !seen[$0]++'); do
        [ -e "/sys/class/net/$iface" ] || absent="$absent $iface"
    done
    [ -z "$absent" ] && break
    if [ $SECONDS -ge $deadline ]; then
        echo "no interface${absent} after the switch" >>"$ERRORS"
        break
    fi
    sleep 1
done
if [ -s "$ERRORS" ]; then
    errors=$(tr '\n' ' ' <"$ERRORS")
    rollback_now
    echo "failed: the new configuration did not come up (${errors% });" \
        "the previous configuration was restored (log: $STATE/rollback.log)"
    exit 3
fi

# the same deadline: interfaces and targets together within CHECK_TIMEOUT, before the rollback fires
while :; do
    missing=""
    while read -r target; do
        [ -n "$target" ] || continue
        ping -c 1 -W 1 "$target" >/dev/null 2>&1 || missing="$missing $target"
    done <"$STATE/targets"
    [ -z "$missing" ] && break
    if [ $SECONDS -ge $deadline ]; then
        back=$(at $((now + ROLLBACK_TIMEOUT)))
        echo "failed: no answer from${missing} within ${CHECK_TIMEOUT} s after the change;" \
            "the previous configuration comes back by itself at $back (log: $STATE/rollback.log)"
        exit 3
    fi
    sleep 1
done
touch "$STATE/confirmed"
disarm
rm -f "$STATE/armed"
echo changed
"""
