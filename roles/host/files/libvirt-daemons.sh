#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# kvmfleet.kvm.host: runs the libvirt daemons where no init system does (containers, CI machines).
#   libvirt-daemons.sh start SBIN SOCKET DAEMON...   start those not running (pidfile /run/DAEMON.pid)
#   libvirt-daemons.sh restart SBIN SOCKET DAEMON    stop one daemon (SIGTERM, wait) and start it again
# LIBVIRTD_ARGS: more arguments of libvirtd (the role passes --listen when listen_tcp or listen_tls is on); a
# running libvirtd whose --listen differs from them is restarted by start.
# Prints "started DAEMON" for each daemon it started. Running guests keep running across a restart of
# libvirtd/virtqemud: QEMU processes are not its children, and it reconnects to them when it starts.
set -eu
action=$1 sbin=$2 socket=$3
shift 3

# a live (not zombie) process: where PID 1 does not reap (a container whose PID 1 is not an init), an
# exited daemon stays a zombie that kill -0 still finds
alive() {
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

running() {
    pid=$(cat "/run/$1.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}

args() {
    if [ "$1" = libvirtd ]; then echo "${LIBVIRTD_ARGS:-}"; fi
}

start() {
    # shellcheck disable=SC2046  # the arguments are words
    "$sbin/$1" -d $(args "$1")
    echo "started $1"
}

stop() {
    if running "$1"; then
        pid=$(cat "/run/$1.pid")
        kill -TERM "$pid"
        i=0
        while alive "$pid"; do
            i=$((i + 1))
            [ "$i" -lt 300 ] || { echo "$1 (pid $pid) did not stop within 30 s" >&2; exit 1; }
            sleep 0.1
        done
    fi
}

# whether the running daemon listens on the network (--listen, -l) as its arguments now want
listens_as_wanted() {
    pid=$(cat "/run/$1.pid")
    now=$(tr '\0' '\n' <"/proc/$pid/cmdline" | grep -cxE -e '--listen|-l') || true
    wanted=$(args "$1" | tr ' ' '\n' | grep -cxE -e '--listen|-l') || true
    [ "$now" = "$wanted" ]
}

case $action in
    start)
        for daemon in "$@"; do
            if ! running "$daemon"; then
                start "$daemon"
            elif ! listens_as_wanted "$daemon"; then
                stop "$daemon"
                start "$daemon"
            fi
        done
        ;;
    restart)
        stop "$1"
        start "$1"
        ;;
    *)
        echo "usage: $0 start|restart SBIN SOCKET DAEMON..." >&2
        exit 2
        ;;
esac

i=0
until [ -S "$socket" ]; do
    i=$((i + 1))
    [ "$i" -lt 300 ] || { echo "no $socket after 30 s" >&2; exit 1; }
    sleep 0.1
done
