#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: volume
short_description: Declare a libvirt storage volume - create, grow, clone, overlay, or import a verified image
version_added: 0.1.0
description:
  - Makes one volume of a libvirt storage pool match the options given.
  - A missing volume is created - blank (O(capacity), O(format)), as a qcow2 overlay on
    O(backing_image), as a copy of O(clone_from), or imported from O(url) or O(src) with a
    O(checksum).
  - An existing volume is compared on the options that are set - a larger O(capacity) grows it in
    place; a smaller one, another O(format) or another O(backing_image) are refused with what would
    have to happen instead. The data of an existing volume is never replaced.
  - Imports stream - the image is never held in memory. It is hashed on the way and appears under
    its final name only after the checksum matched. On a local hypervisor with a directory pool
    (C(dir), C(fs), C(netfs)) it is written into a hidden file in the pool directory and linked
    under its name when verified. Otherwise (remote hypervisors, other pool types, or
    O(transfer=stream)) it is sent over libvirt's stream upload into a hidden staging volume of the
    same pool (C(.NAME.kvmfleet-part-...)) - the bytes hashed are the bytes sent - and once verified
    libvirt copies it under its final name on the hypervisor and the staging volume is deleted (a
    raw image in a directory pool on a filesystem with reflinks, such as XFS or Btrfs, is a reflink
    copy that takes no time and no second space; a source without a known length, such as an HTTP
    answer without C(Content-Length), is first written to a temporary file on the host that runs the
    module). An image larger than the pool's free space (read as the import starts) fails before
    anything is written, naming the pool, its free space and the image's size (a stream import into a
    pool without reflinks needs room for a second copy too, which is not checked ahead); a directory pool
    that fills during a direct write fails naming the pool. A bad checksum, a broken
    transfer or a full disk leaves no volume and no temporary file behind. A run that is killed cannot clean up; the
    next import of the same name removes the hidden leftovers nobody writes to any more.
  - Base-image cache - an import without O(name) is named after the image and its checksum
    (C(debian-12-genericcloud-amd64-sha256-0123456789abcdef.qcow2)), so the same URL and checksum are
    fetched once per pool and a new checksum makes a new volume.
  - An import with O(name) is keyed by the name alone - when a volume of that name exists, nothing is
    fetched and the volume is kept as it is, also when O(checksum) or O(url) changed (the checksum of
    an existing volume is not recorded, and hashing it would read the whole image on every run). To
    replace the image, delete the volume first (O(state=absent)) or import without O(name).
  - Block pools (C(logical), C(zfs), C(rbd), C(iscsi)) hold raw volumes only, allocated in full
    (libvirt makes a C(logical) volume allocated below its capacity a sparse LVM snapshot, which
    fails once written). O(format=qcow2), O(backing_image) or a qcow2 image to import there fail
    naming the field; a blank volume there is raw by default.
  - The volume is deleted only with O(state=absent).
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
  - kvmfleet.kvm.attributes.converge
attributes:
  async:
    support: partial
    details:
      - With C(async) the module runs as a module process, except an import of a controller-side
        O(src) (O(remote_src=false)), which fails - copy the file to the managed host first and set
        O(remote_src=true).
options:
  name:
    description:
      - Name of the volume in O(pool). Required unless the volume is imported; an import without a
        name gets one with its checksum in it (see the base-image cache above).
    type: str
  pool:
    description:
      - The storage pool, which must be active.
      - In check mode a pool that does not exist yet (an earlier task would create it) is not an
        error - the result predicts the volume created or imported into it (V(changed)); a real run
        fails when the pool is missing.
    type: str
    default: default
  capacity:
    description:
      - Size with a unit (V(20GiB), V(512M); a bare number is GiB). Required for a blank volume;
        an overlay or a clone is at least as large as its source. A larger value grows an existing
        volume in place; a smaller one is refused.
      - An import takes the image's own size; grow it in a later task.
    type: raw
  format:
    description:
      - V(qcow2) or V(raw). Default for a new blank volume and an overlay - V(qcow2) (V(raw) in a
        block pool, which takes raw volumes only); for a clone - the source's format. For an import -
        the format the image must have (it is detected from the image; a mismatch fails and keeps
        nothing). Cannot change in place.
    type: str
    choices: [qcow2, raw]
  backing_image:
    description: Create a qcow2 overlay on this image - a volume name in O(pool), or the absolute path of a volume of any pool.
    type: str
  clone_from:
    description: Create the volume as a full copy of this volume of O(pool).
    type: str
  url:
    description: Import the image from this C(http), C(https), C(ftp) or C(file) URL, fetched by the host that runs the module.
    type: str
  src:
    description:
      - Import the image from this file. By default a file on the controller (looked up like
        M(ansible.builtin.copy) looks up its C(src)), which the action plugin copies to the managed
        host's temporary directory first - only when the volume does not exist yet - and removes
        afterwards (when the managed host is the controller, the file is read where it is). Not with
        C(async) (see the C(async) attribute). With O(remote_src=true) an absolute path on the managed host.
    type: str
  remote_src:
    description: O(src) is a file on the managed host (the host that runs the module), not on the controller.
    type: bool
    default: false
  checksum:
    description:
      - Checksum of the image to import, as C(algorithm:hex digest) with algorithm V(sha256) or
        V(sha512). Required with O(url) and O(src); the algorithm is never guessed.
      - Verified when the image is fetched. An existing volume of O(name) is not compared with it
        (see the description - a new checksum with the same O(name) keeps the old image).
    type: str
  url_headers:
    description: HTTP headers for O(url), such as an C(Authorization) header. Not logged.
    type: dict
  validate_certs:
    description: Verify the TLS certificate of an C(https) O(url).
    type: bool
    default: true
  timeout:
    description: Seconds to wait for the O(url) server to answer or to send more data.
    type: int
    default: 60
  transfer:
    description:
      - How an import reaches the pool. V(auto) writes directly into the pool directory when the
        hypervisor is local and the pool is a C(dir), C(fs) or C(netfs) pool, and uses libvirt's
        stream upload otherwise. V(stream) always uses the stream upload.
    type: str
    choices: [auto, stream]
    default: auto
  tmp_dir:
    description:
      - Absolute path of the directory on the host that runs the module where a stream import whose
        length is not known in advance (no C(Content-Length)) is staged before its upload.
        Default - the module's temporary directory (Ansible's remote C(tmp)), or the system's temporary
        directory when the module runs in the worker process (see the C(action) attribute).
    type: str
  state:
    description: V(present) - the volume exists as declared. V(absent) - the volume is deleted.
    type: str
    choices: [present, absent]
    default: present
  wipe:
    description: With O(state=absent), overwrite the volume's data (libvirt's zero wipe) before deleting it.
    type: bool
    default: false
notes:
  - When the managed host is the controller (see the C(action) attribute), the plan is made in
    Ansible's worker, but an import that has to happen runs as a module process.
  - The checksum of an existing volume is not recomputed on every run (that would read the whole
    image); the base-image cache relies on the name. Delete the volume to fetch it again.
  - Over libvirt's stream, a qcow2 image in a C(dir), C(fs) or C(netfs) pool is copied from the
    staging volume by libvirt with C(qemu-img convert) - the same disk contents, but the file's bytes
    may differ from the verified image (a raw image is copied byte for byte). The direct write into
    a local pool directory keeps the image's own bytes.
  - Hidden leftovers of a killed run are removed by the next import of the same name once nobody has
    written to them for 10 minutes (pools of files), or 24 hours after they were started (block
    pools, which report no modification time).
seealso:
  - module: kvmfleet.kvm.pool
  - module: kvmfleet.kvm.guest
"""

EXAMPLES = r"""
- name: Fetch a base image once per pool (the name carries the checksum)
  kvmfleet.kvm.volume:
    pool: images
    url: https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2
    checksum: "sha512:{{ debian_image_sha512 }}"
  register: base

- name: A guest disk as an overlay on the base image
  kvmfleet.kvm.volume:
    pool: images
    name: web1-root.qcow2
    backing_image: "{{ base.name }}"
    capacity: 20GiB

- name: Grow it later (never shrinks)
  kvmfleet.kvm.volume:
    pool: images
    name: web1-root.qcow2
    capacity: 40GiB

- name: A blank raw data disk
  kvmfleet.kvm.volume:
    pool: images
    name: web1-data.img
    format: raw
    capacity: 100GiB

- name: Import an image that sits next to the playbook (copied to the hypervisor first)
  kvmfleet.kvm.volume:
    pool: images
    name: appliance.qcow2
    src: files/appliance.qcow2
    checksum: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

- name: Delete a volume after overwriting its data
  kvmfleet.kvm.volume:
    pool: images
    name: old-data.img
    state: absent
    wipe: true
"""

RETURN = r"""
name:
  description: The volume's name (for an import without O(name), the name with the checksum).
  returned: always
  type: str
  sample: debian-12-genericcloud-amd64-sha256-0123456789abcdef.qcow2
pool:
  description: The pool.
  returned: always
  type: str
  sample: images
state:
  description: V(present) or V(absent).
  returned: always
  type: str
  sample: present
path:
  description: The volume's path on the hypervisor; with O(state=absent), the path of the volume that was (or would be) deleted.
  returned: when the volume exists before or after the run (not for a volume that check mode would create)
  type: str
  sample: /srv/libvirt/images/web1-root.qcow2
capacity:
  description: The capacity in bytes (predicted in check mode; unknown before an import).
  returned: when known
  type: int
  sample: 21474836480
format:
  description: The volume format.
  returned: when known
  type: str
  sample: qcow2
checksum:
  description: The declared checksum of an imported image.
  returned: for imports
  type: str
  sample: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
actions:
  description: What was done (in check mode - what would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["grow volume web1-root.qcow2 from 20GiB to 40GiB"]
diff:
  description: The options that differ, before and after.
  returned: always
  type: dict
  sample: {"before": {"capacity": "20GiB"}, "after": {"capacity": "40GiB"}}
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["capacity: unknown unit 'x' in '1x'; use B, KiB, MiB, GiB, TiB (or K, M, G, T; KB, MB, GB, TB)"]
done:
  description: When the task failed while its actions ran, the actions that completed before the failure (in check mode none run).
  returned: when an action failed
  type: list
  elements: str
  sample: ["create volume web1-vda.qcow2 (10 GiB qcow2)"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.module import run_volume_module


def main() -> None:
    run_volume_module()


if __name__ == "__main__":
    main()
