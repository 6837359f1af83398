#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the podman image of the fleet's test hypervisors: the bare Debian 12 systemd machine of
# build-host-container.sh with the packages the host role installs on Debian 12 already in it
# (roles/host/vars/Debian-12.yml), so the role's install step changes nothing there and a fleet of
# them comes up in seconds. Everything else (libvirt settings, sockets, daemons) is still the role's
# job. sshd runs in it too: the fleet's hosts are reached over SSH, like real hypervisors. Cached as localhost/kvmfleet-hypervisor:<recipe hash>, tagged latest; rebuilt only when this
# recipe, the base recipe or the role's package list changes. Prints the image name.
# Needs: podman (and what build-host-container.sh needs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh"

packages_file="$KVMFLEET_ROOT/roles/host/vars/Debian-12.yml"
recipe=$(cat "$here/build-hypervisor-container.sh" "$here/build-host-container.sh" "$packages_file" | sha256sum | cut -c1-12)
image="localhost/kvmfleet-hypervisor:$recipe"
latest=localhost/kvmfleet-hypervisor:latest
if podman image exists "$image"; then
    podman tag "$image" "$latest"
    echo "$image"
    exit 0
fi
base=$("$here/build-host-container.sh")
# the role's Debian 12 package list, read from the role itself so the two cannot drift apart
packages=$(sed -n 's/^__host_packages: *\[\(.*\)\]/\1/p' "$packages_file" | tr -d ',')
[ -n "$packages" ] || { echo "build-hypervisor-container: no __host_packages in $packages_file" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# no service may start while the packages install (there is no init in the build container)
cat > "$work/Containerfile" <<EOF
FROM $base
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \\
 && apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages openssh-server \\
 && rm -f /usr/sbin/policy-rc.d /etc/machine-id && : > /etc/machine-id \\
 && rm -rf /var/cache/apt/archives/*.deb
CMD ["/sbin/init"]
STOPSIGNAL SIGRTMIN+3
EOF
podman build -q --network host -t "$image" -f "$work/Containerfile" "$work" >"$work/build.log" 2>&1 \
    || { tail -n 30 "$work/build.log" >&2; exit 1; }
podman tag "$image" "$latest"
echo "$image"
