#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Sets up a fresh Debian 12 machine to develop and test kvmfleet.kvm. Idempotent: a second run changes
# nothing and takes ~10 s (most of it the host role's no-op run).
#   - the controller side (scripts/controller.sh): virtual environment, the checkout as kvmfleet.kvm
#   - test-only tools: podman for container test hosts, debootstrap, shellcheck, xmllint, sshd, ...
#   - this machine as a hypervisor through the collection's own host role (playbooks/hypervisors.yml
#     with scripts/inventory/localhost.yml): QEMU, libvirt, daemons started, /dev/kvm usable
#   - the tiny test guest image, the full cloud test image (Debian 12 with cloud-init; ~2 min once) and
#     the container test host images (scripts/images/), the fleet's container hypervisors among them
# Ubuntu 22.04/24.04: the same packages. Fedora/RHEL 9: see README.md ("Other distributions").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

# 1. controller side
"$here/controller.sh"

# 2. test-only tools (the hypervisor's own packages come from the host role)
apt_install busybox-static cpio debootstrap podman runc uidmap fuse-overlayfs catatonit \
    iproute2 curl ca-certificates shellcheck libxml2-utils genisoimage util-linux \
    openssh-client openssh-server e2fsprogs xfsprogs lvm2 \
    ifupdown bridge-utils iputils-ping \
    chromium chromium-driver  # bridges role tests (ifupdown in network namespaces); the fleet report's page

# 3. podman: runc and raised ulimits (crun fails on setrlimit here)
containers_conf='[containers]
default_ulimits = ["nofile=20000:20000", "nproc=8192:8192"]

[engine]
runtime = "runc"'
if [ "$(cat /etc/containers/containers.conf 2>/dev/null)" != "$containers_conf" ]; then
    say "writing /etc/containers/containers.conf"
    $SUDO mkdir -p /etc/containers
    printf '%s\n' "$containers_conf" | $SUDO tee /etc/containers/containers.conf >/dev/null
fi

# 4. the other ansible-core versions the collection claims (tests/matrix.txt): a virtual environment each,
# with what the unit tests need (tests/static/test_matrix.py runs them there, and ansible-test sanity)
matrix_python() {  # PYTHON-VERSION: its interpreter (python3 if it is that version, else python3.X, else pyenv's)
    local want=$1 candidate
    for candidate in python3 "python$want" "$HOME"/.pyenv/versions/"$want".*/bin/python; do
        if command -v "$candidate" >/dev/null && [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$want" ]; then
            command -v "$candidate"
            return
        fi
    done
    say "no Python $want for the ansible-core version matrix (tests/matrix.txt): install it (python$want, or pyenv)" >&2
    return 1
}
grep -v '^#' "$KVMFLEET_ROOT/tests/matrix.txt" | while read -r core python; do
    venv=$KVMFLEET_CACHE/matrix/$core
    if [ ! -x "$venv/bin/ansible-test" ]; then
        say "creating $venv (ansible-core $core on Python $python)"
        mapfile -t pins < <(grep -E '^(pytest|libvirt-python|jsonschema)==' "$KVMFLEET_ROOT/requirements-dev.txt")
        "$(matrix_python "$python")" -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$core" "${pins[@]}"
    fi
done

# 4a. ansible-test offline: its pip bootstrap script (each version's) is replaced by one that uses ensurepip
for venv in "$KVMFLEET_VENV" "$KVMFLEET_CACHE"/matrix/*; do
    pip_version=$(grep -oP "pip='\K[0-9.]+" "$("$venv/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" | head -n 1)
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
done

# 4b. the documentation site's own tools (scripts/docs.sh builds the site; a static test opens it)
"$here/docs.sh" --tools-only

# 5. this machine as a hypervisor, through the host role (prints only what it changed)
say "this machine as a hypervisor: playbooks/hypervisors.yml (host role)"
ANSIBLE_DISPLAY_OK_HOSTS=false ANSIBLE_DISPLAY_SKIPPED_HOSTS=false hypervisor --diff

# 6-8. the test images, built at the same time (each is mostly a debootstrap waiting on the mirror):
# the tiny test guest, the full cloud test image (debootstrap needs root), the container test host and
# on it the fleet's container hypervisors (tests/fleet.py, molecule/fleet: the host role's packages baked
# in), the bridges role's podman systemd host (molecule/bridges, tests/integration/test_bridges_container.py)
mkdir -p "$KVMFLEET_CACHE"
started cloud $SUDO env KVMFLEET_CACHE="$KVMFLEET_CACHE" "$here/images/build-cloud.sh"
started bridges "$here/images/build-bridges-host.sh"
started containers sh -c "'$here/images/build-host-container.sh' && '$here/images/build-hypervisor-container.sh' >/dev/null"
image=$("$here/images/build-tiny.sh")
finished containers
container=$built
finished bridges
finished cloud
cloud=$built
# 9. nothing above may have changed what the host role set up (/dev/kvm once lost its group to a
# chroot's package scripts: every guest start then took a minute); if something did, say so and repair
if [ -e /dev/kvm ] && [ "$(stat -c %G /dev/kvm)" != kvm ]; then
    say "WARNING: /dev/kvm is $(stat -c %U:%G /dev/kvm) after the image builds; running the host role again"
    ANSIBLE_DISPLAY_OK_HOSTS=false ANSIBLE_DISPLAY_SKIPPED_HOSTS=false hypervisor --diff
fi
say "ready: venv $KVMFLEET_VENV, collection $KVMFLEET_COLLECTIONS, tiny image $image, cloud image $cloud, container image $container"
