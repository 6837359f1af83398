#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine to develop, test and demo kvmfleet.kvm. Idempotent: a second run
# changes nothing and takes a few seconds.
#   - Debian packages: QEMU, libvirt, tools for seed ISOs and test images, podman for container hosts
#   - a virtual environment with the pinned controller tools (requirements-dev.txt)
#   - the checkout made importable as the collection kvmfleet.kvm (.cache/collections)
#   - virtlogd, virtlockd and libvirtd started when no init system runs them; /dev/kvm usable by QEMU
#   - the tiny test guest image (scripts/images/build-tiny.sh)
#   - the full cloud test image, Debian 12 with cloud-init (scripts/images/build-cloud.sh; ~2 min once)
# Ubuntu 22.04/24.04: the same packages. Fedora/RHEL 9: see README.md ("Other distributions").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
say() { printf '==> %s\n' "$*"; }

APT_PACKAGES=(
    qemu-system-x86 qemu-utils ovmf swtpm swtpm-tools
    libvirt-daemon-system libvirt-clients libvirt-dev pkg-config dnsmasq-base
    genisoimage busybox-static cpio debootstrap
    podman runc uidmap fuse-overlayfs
    iproute2 curl ca-certificates git python3-venv shellcheck libxml2-utils
    lvm2
    openssh-client openssh-server e2fsprogs
    ifupdown bridge-utils iputils-ping  # bridges role tests (ifupdown inside network namespaces)
)

# 1. Debian packages
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. podman: runc and raised ulimits (crun fails on setrlimit here)
containers_conf='[containers]
default_ulimits = ["nofile=20000:20000", "nproc=8192:8192"]

[engine]
runtime = "runc"'
if [ "$(cat /etc/containers/containers.conf 2>/dev/null)" != "$containers_conf" ]; then
    say "writing /etc/containers/containers.conf"
    $SUDO mkdir -p /etc/containers
    printf '%s\n' "$containers_conf" | $SUDO tee /etc/containers/containers.conf >/dev/null
fi

# 3. virtual environment with the pinned controller tools
stamp="$KVMFLEET_VENV/.requirements.sha256"
want=$(sha256sum "$KVMFLEET_ROOT/requirements-dev.txt" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "creating the virtual environment $KVMFLEET_VENV"
    python3 -m venv "$KVMFLEET_VENV"
    "$KVMFLEET_VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
    "$KVMFLEET_VENV/bin/pip" install -q --disable-pip-version-check -r "$KVMFLEET_ROOT/requirements-dev.txt"
    echo "$want" > "$stamp"
fi

# 4. the checkout as the collection kvmfleet.kvm
mkdir -p "$KVMFLEET_COLLECTIONS/ansible_collections/kvmfleet"
if [ "$(readlink "$KVMFLEET_COLLECTIONS/ansible_collections/kvmfleet/kvm" 2>/dev/null)" != "$KVMFLEET_ROOT" ]; then
    ln -sfn "$KVMFLEET_ROOT" "$KVMFLEET_COLLECTIONS/ansible_collections/kvmfleet/kvm"
fi

# 5. ansible-test offline: its pip bootstrap script is replaced by one that uses ensurepip
pip_version=$(grep -oP "pip='\K[0-9.]+" "$("$KVMFLEET_VENV/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" | head -n 1)
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ ! -f "$get_pip" ]; then
    mkdir -p "$(dirname "$get_pip")"
    cat > "$get_pip" <<'PY'
"""Offline stand-in for get-pip.py (written by kvmfleet scripts/setup.sh): ensurepip, then pip install."""
import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
PY
fi

# 6. libvirt daemons and /dev/kvm
"$here/daemons.sh" start

# 7. the tiny test guest
image=$("$here/images/build-tiny.sh")

# 8. the full cloud test image (debootstrap needs root)
cloud=$($SUDO env KVMFLEET_CACHE="$KVMFLEET_CACHE" "$here/images/build-cloud.sh")

# 9. the bridges role's podman systemd host (molecule/bridges, tests/integration/test_bridges_container.py)
"$here/images/build-bridges-host.sh" >/dev/null
say "ready: venv $KVMFLEET_VENV, collection $KVMFLEET_COLLECTIONS, tiny image $image, cloud image $cloud"
