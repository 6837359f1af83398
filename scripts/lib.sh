# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
# Paths shared by the scripts; sourced, not run.
KVMFLEET_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KVMFLEET_CACHE=${KVMFLEET_CACHE:-$KVMFLEET_ROOT/.cache}
KVMFLEET_VENV=${KVMFLEET_VENV:-$KVMFLEET_CACHE/venv}
KVMFLEET_COLLECTIONS=$KVMFLEET_CACHE/collections
export KVMFLEET_ROOT KVMFLEET_CACHE KVMFLEET_VENV KVMFLEET_COLLECTIONS
export ANSIBLE_COLLECTIONS_PATH=$KVMFLEET_COLLECTIONS
export PATH=$KVMFLEET_VENV/bin:$PATH

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
say() { printf '==> %s\n' "$*"; }

# apt_install PACKAGE...: installs those not installed yet (Debian/Ubuntu)
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        $SUDO apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# debian_mirror: the Debian archive debootstrap fetches from: $KVMFLEET_DEBIAN_MIRROR, else the one this
# machine's apt already uses (deb822 .sources, then sources.list; so a local mirror or an offline one is
# used), else deb.debian.org. KVMFLEET_APT_ETC (/etc/apt) is where apt's configuration is read.
debian_mirror() {
    local etc=${KVMFLEET_APT_ETC:-/etc/apt} uri=${KVMFLEET_DEBIAN_MIRROR:-}
    if [ -z "$uri" ]; then  # the first stanza that is not the security archive
        uri=$(cat "$etc"/sources.list.d/*.sources 2>/dev/null | awk '
            /^[[:space:]]*$/ { u = ""; s = ""; next }
            /^URIs:/ { u = $2 } /^Suites:/ { s = $0 }
            u != "" && s != "" && s !~ /-security/ { print u; exit }')
    fi
    if [ -z "$uri" ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /-security/ {
            for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit } }' "$etc/sources.list" 2>/dev/null)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

# apt_proxy: exports http_proxy from apt's Acquire::http::Proxy, for debootstrap, when none is set
apt_proxy() {
    local proxy=""
    if [ -z "${http_proxy:-}" ] && command -v apt-config >/dev/null; then
        eval "$(apt-config shell proxy Acquire::http::Proxy)"
        if [ -n "$proxy" ]; then
            export http_proxy=$proxy
        fi
    fi
}

# hypervisor [ANSIBLE-PLAYBOOK ARGS...]: this machine as a hypervisor through the host role
hypervisor() {
    (cd "$KVMFLEET_ROOT" && ansible-playbook -i scripts/inventory/localhost.yml playbooks/hypervisors.yml "$@")
}

# started NAME COMMAND...: runs COMMAND in the background, its output kept for `finished NAME`
started() {
    local name=$1
    shift
    "$@" >"$KVMFLEET_CACHE/.build-$name.out" 2>"$KVMFLEET_CACHE/.build-$name.err" &
    eval "_pid_$name=$!"
}
# finished NAME: waits for it (in this shell: not in $(...), whose subshell has no such child); its
# output goes to $built, or its errors are shown and it fails
finished() {
    local name=$1 pid
    eval "pid=\$_pid_$name"
    if ! wait "$pid"; then
        say "building $name failed:" >&2
        tail -n 40 "$KVMFLEET_CACHE/.build-$name.err" >&2
        return 1
    fi
    # shellcheck disable=SC2034  # read by the caller
    built=$(cat "$KVMFLEET_CACHE/.build-$name.out")
    rm -f "$KVMFLEET_CACHE/.build-$name.out" "$KVMFLEET_CACHE/.build-$name.err"
}
