#!/usr/bin/env bash
# README command (a): set this machine up and run the demo (playbooks/demo.yml).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh"
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
cd "$KVMFLEET_ROOT"
export KVMFLEET_CACHE
exec ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$KVMFLEET_VENV/bin/python" playbooks/demo.yml "$@"
