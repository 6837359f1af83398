#!/bin/sh
# kvmfleet.kvm.host: runs the libvirt daemons where no init system does (containers, CI machines).
#   libvirt-daemons.sh start SBIN SOCKET DAEMON...   start those not running (pidfile /run/DAEMON.pid)
#   libvirt-daemons.sh restart SBIN SOCKET DAEMON    stop one daemon (SIGTERM, wait) and start it again
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

start() {
    "$sbin/$1" -d
    echo "started $1"
}

case $action in
    start)
        for daemon in "$@"; do
            running "$daemon" || start "$daemon"
        done
        ;;
    restart)
        daemon=$1
        if running "$daemon"; then
            pid=$(cat "/run/$daemon.pid")
            kill -TERM "$pid"
            i=0
            while alive "$pid"; do
                i=$((i + 1))
                [ "$i" -lt 300 ] || { echo "$daemon (pid $pid) did not stop within 30 s" >&2; exit 1; }
                sleep 0.1
            done
        fi
        start "$daemon"
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
