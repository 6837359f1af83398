# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sphinx settings of the kvmfleet.kvm documentation site (scripts/docs.sh builds it).

The plugin pages come from antsibull-docs, the guides from README.md and docs/*.md (MyST). The site is
built offline: references into Ansible's own documentation (builtin modules, common return values,
action plugins) become links to docs.ansible.com instead of intersphinx lookups, and any other reference
that does not resolve fails the build.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes

project = "kvmfleet.kvm"
copyright = "kvmfleet maintainers"  # Sphinx's name for it
title = "kvmfleet.kvm documentation"
html_short_title = "kvmfleet.kvm"
extensions = ["sphinx_antsibull_ext", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_heading_anchors = 3
pygments_style = "ansible"
highlight_language = "YAML+Jinja"
html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
html_use_modindex = False
html_use_index = False
html_copy_source = False
default_role = "any"
nitpicky = True
suppress_warnings = ["myst.xref_missing"]  # links from the guides to files of the repository, not pages

ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/latest/"
ANSIBLE_LABELS = {
    "action_plugins": "plugins/action.html",
    "common_return_values": "reference_appendices/common_return_values.html",
    "ansible_configuration_settings": "reference_appendices/config.html",
}


def ansible_reference(_app: Any, _env: Any, node: Any, contnode: Any) -> Any:
    """A reference to Ansible's own documentation, as a link to it (the site is built without the network)."""
    target = node.get("reftarget", "")
    uri = None
    if node.get("reftype") == "envvar" and target.startswith("ANSIBLE_"):  # Ansible's own settings
        uri = f"{ANSIBLE_DOCS}reference_appendices/config.html#envvar-{target.lower().replace('_', '-')}"
    elif target in ANSIBLE_LABELS:
        uri = ANSIBLE_DOCS + ANSIBLE_LABELS[target]
    elif target.startswith("ansible_collections.") and not target.startswith("ansible_collections.kvmfleet."):
        parts = target.split(".")  # ansible_collections.ansible.builtin.copy_module
        if len(parts) >= 4:
            page = ".".join(parts[3:]).split("__", maxsplit=1)[0]
            uri = f"{ANSIBLE_DOCS}collections/{parts[1]}/{parts[2]}/{page}.html"
    if uri is None:
        return None
    link = nodes.reference("", "", internal=False, refuri=uri)
    link.append(contnode)
    return link


def setup(app: Any) -> None:
    app.connect("missing-reference", ansible_reference)
