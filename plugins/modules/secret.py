#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: secret
short_description: libvirt secrets (Ceph and iSCSI credentials, volume passphrases, TLS keys), their values never shown
version_added: 0.1.0
description:
  - Defines a libvirt secret found by its usage (O(usage) and O(usage_id), what libvirt looks it up by and
    what a pool, disk or volume refers to), sets its value, or undefines it (O(state=absent)).
  - The value is never returned, logged or shown in the diff (it is V(no_log); the diff says only that it
    is set or changes). It is compared inside the module, so a task that gives the value the secret
    already has changes nothing.
  - A private secret's value (O(private=true)) cannot be read back through libvirt, nor whether it has
    one. O(update_value) then says what to do - V(always) sets it on every run (V(changed=true), said in
    RV(actions)), V(on_create) only when the module defines the secret.
  - A changed O(description), O(ephemeral) or O(private=true) redefines the secret in place; libvirt keeps
    its value. libvirt does not make a private secret public - O(private=false) on a private secret
    undefines it and defines it again (same UUID and description) with the task's value, only with
    O(recreate=true); otherwise the task fails naming it, with nothing done.
  - Every problem is found before anything is done, each naming its option.
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
  - kvmfleet.kvm.attributes.converge
options:
  usage:
    description:
      - What the secret is for - V(ceph) (a cephx key for an RBD pool or disk), V(iscsi) (a CHAP password),
        V(volume) (the passphrase of an encrypted volume), V(tls) (the key of a TLS certificate), V(vtpm)
        (the state encryption of a TPM emulator).
    type: str
    required: true
    choices: [ceph, iscsi, tls, volume, vtpm]
  usage_id:
    description:
      - The name libvirt finds the secret by - for V(ceph), V(tls) and V(vtpm) a name of your choice (the
        one a pool's O(kvmfleet.kvm.pool#module:source.auth.secret_usage) gives), for V(iscsi) the target,
        for V(volume) the volume's absolute path.
      - With O(usage) it identifies the secret; there is one secret per usage and usage id.
    type: str
    required: true
  state:
    description: V(present) defines the secret (and sets its value), V(absent) undefines it with its value.
    type: str
    choices: [present, absent]
    default: present
  uuid:
    description:
      - The secret's UUID when it is defined (libvirt picks one otherwise). An existing secret with
        another UUID is an error naming this option; a secret's UUID does not change.
    type: str
  description:
    description: A description kept with the secret (not secret; anyone who can read the secret sees it).
    type: str
  private:
    description:
      - V(true) makes libvirt refuse to give the value back to any client; the module then cannot compare
        it (see O(update_value)).
    type: bool
    default: false
  ephemeral:
    description: V(true) keeps the value in memory only; it is gone when libvirtd restarts.
    type: bool
    default: false
  value:
    description:
      - The secret's value as text (an iSCSI CHAP password, a volume passphrase), stored as its UTF-8 bytes.
      - Not with O(value_base64). Without either, the value is left as it is.
    type: str
  value_base64:
    description:
      - The secret's value in base64, decoded before it is stored - a Ceph key as C(ceph auth get-key)
        prints it.
      - Not with O(value).
    type: str
  update_value:
    description:
      - For a private secret, whose value cannot be compared - V(always) sets it on every run, V(on_create)
        only when the module defines the secret. A secret that is not private is compared and set only when
        its value differs, whichever this says.
    type: str
    choices: [always, on_create]
    default: always
  recreate:
    description: Allow undefining a private secret and defining it again, to make it public (O(private=false)).
    type: bool
    default: false
notes:
  - The value stays on the hypervisor as libvirt stores it (C(/etc/libvirt/secrets), readable by root) unless
    O(ephemeral=true).
attributes:
  diff_mode:
    support: full
    description: The diff holds what differs; of the value only whether it is set or changes.
  idempotent:
    support: partial
    description:
      - A second run with the same options changes nothing, except for a private secret with a value and
        O(update_value=always).
seealso:
  - module: kvmfleet.kvm.pool
"""

EXAMPLES = r"""
- name: The cephx key of client.libvirt, for the RBD pool below
  kvmfleet.kvm.secret:
    usage: ceph
    usage_id: client.libvirt
    description: cephx key of client.libvirt
    value_base64: "{{ ceph_libvirt_key }}"  # as `ceph auth get-key client.libvirt` prints it

- name: An RBD pool that authenticates with it
  kvmfleet.kvm.pool:
    name: rbd
    type: rbd
    source:
      name: libvirt-pool
      hosts: [mon1.example.com, mon2.example.com]
      auth:
        type: ceph
        username: libvirt
        secret_usage: client.libvirt

- name: A CHAP password no libvirt client can read back, set when the secret is first defined
  kvmfleet.kvm.secret:
    usage: iscsi
    usage_id: iqn.2026-12.com.example:storage1
    value: "{{ chap_password }}"
    private: true
    update_value: on_create

- name: Remove a secret
  kvmfleet.kvm.secret:
    usage: volume
    usage_id: /var/lib/libvirt/images/crypt.qcow2
    state: absent
"""

RETURN = r"""
name:
  description: The secret as messages name it (its usage and usage id).
  returned: always
  type: str
  sample: ceph client.libvirt
usage:
  description: Its usage.
  returned: always
  type: str
  sample: ceph
usage_id:
  description: Its usage id.
  returned: always
  type: str
  sample: client.libvirt
state:
  description: V(present) or V(absent).
  returned: always
  type: str
  sample: present
uuid:
  description: The secret's UUID (in check mode for a new secret, the one of O(uuid), or V(null)).
  returned: when the secret exists after the run
  type: str
  sample: 2ec115d7-3a88-3ceb-bc12-0ac909a6fd87
description:
  description: Its description.
  returned: when the secret exists after the run
  type: str
private:
  description: Whether libvirt keeps its value from every client.
  returned: when the secret exists after the run
  type: bool
ephemeral:
  description: Whether its value is in memory only.
  returned: when the secret exists after the run
  type: bool
has_value:
  description: Whether it has a value - V(true) when this run set it; otherwise V(null) for a private secret, which libvirt does not say of.
  returned: when the secret exists after the run
  type: bool
actions:
  description: What was done (in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["define secret ceph client.libvirt", "set the value of secret ceph client.libvirt"]
diff:
  description: What differs, before and after; of the value only V((none)), V((hidden)) or that it changes.
  returned: always
  type: dict
  sample: {"before": {"state": "absent", "value": "(none)"}, "after": {"state": "present", "value": "(hidden)"}}
errors:
  description: "Every problem of the input, each starting with the option it is about (V(usage_id: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["value_base64: is not base64 text"]
needs_option:
  description: The option that would allow what the task needs (V(recreate)); nothing was done.
  returned: when the task failed because an action needs an option
  type: str
  sample: recreate
done:
  description: When the task failed while its actions ran, the actions that completed before the failure (in check mode none run).
  returned: when an action failed
  type: list
  elements: str
  sample: ["define secret ceph client.libvirt"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._runner import run_entry
from ansible_collections.kvmfleet.kvm.plugins.module_utils._secret.module import SECRET_ENTRY


def main() -> None:
    run_entry(SECRET_ENTRY)


if __name__ == "__main__":
    main()
