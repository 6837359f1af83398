#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the documentation site: every plugin's page from its documentation (antsibull-docs), the guides
# from README.md and docs/*.md (Sphinx with MyST), in the Ansible docs theme. Offline; warnings fail it.
#   scripts/docs.sh [DEST]      # default .cache/docs; the site is DEST/html/index.html
# Its tools live in a virtual environment of their own (.cache/docs-venv, docs/site/requirements.txt).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
"$here/controller.sh" >/dev/null  # the checkout as the collection kvmfleet.kvm

venv=$KVMFLEET_CACHE/docs-venv
requirements=$KVMFLEET_ROOT/docs/site/requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "creating the documentation tools' virtual environment $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
fi
if [ "${1:-}" = "--tools-only" ]; then
    exit 0
fi

dest=$(mkdir -p "${1:-$KVMFLEET_CACHE/docs}" && cd "${1:-$KVMFLEET_CACHE/docs}" && pwd)
rst=$dest/rst
rm -rf "$rst" "$dest/html"
mkdir -p "$rst"
chmod og-w "$rst"  # antsibull-docs wants its directory writable by itself only
if ! log=$(ANSIBLE_COLLECTIONS_PATH=$KVMFLEET_COLLECTIONS "$venv/bin/antsibull-docs" \
    --config-file "$KVMFLEET_ROOT/docs/site/antsibull-docs.cfg" \
    collection --use-current --dest-dir "$rst" kvmfleet.kvm 2>&1); then
    printf '%s\n' "$log" >&2
    exit 1
fi

# the guides: the README as the overview, docs/*.md beside it
mkdir -p "$rst/guide"
cp "$KVMFLEET_ROOT/README.md" "$rst/guide/overview.md"
guides=(overview)
for page in "$KVMFLEET_ROOT"/docs/*.md; do
    name=$(basename "$page" .md)
    cp "$page" "$rst/guide/$name.md"
    guides+=("$name")
done
{
    printf '%s\n' "kvmfleet.kvm" "============" "" \
        "An Ansible collection that turns bare Linux machines into a fleet of KVM/libvirt hypervisors and keeps" \
        "their guests in the declared state." "" \
        ".. toctree::" "   :maxdepth: 1" "   :caption: Guides" ""
    for name in "${guides[@]}"; do printf '   guide/%s\n' "$name"; done
    printf '%s\n' "" ".. toctree::" "   :maxdepth: 2" "   :caption: Reference" "" "   collections/kvmfleet/kvm/index" \
        "" ".. toctree::" "   :maxdepth: 1" "   :caption: Plugin indexes" "   :glob:" "" "   collections/index_*" \
        "   collections/environment_variables"
} > "$rst/index.rst"

"$venv/bin/sphinx-build" -q -W --keep-going -b html -c "$KVMFLEET_ROOT/docs/site" "$rst" "$dest/html"
echo "$dest/html/index.html"
