#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

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
    fetched once per pool and a new checksum makes a new volume. With a checksum file (O(checksum) as
    C(sha256:URL)) the name carries the digest found in it, so that file is read on every run of an
    import without O(name) (it is small; the image is fetched only when its volume is missing).
  - Compressed images - a source whose name ends in C(.xz), C(.gz), C(.bz2) or C(.zst) is decompressed
    on the way (see O(decompress)); the volume holds the decompressed image, and a name made for it
    drops the compression suffix (C(disk.qcow2.xz) becomes C(disk-sha256-0123456789abcdef.qcow2)). The
    checksum is that of the file as fetched, the compressed file, as with M(ansible.builtin.get_url)
    and the C(SHA256SUMS) files published next to compressed images. Its size is known only at the
    end, so the free-space check before a direct write is skipped (a pool that fills fails naming
    the pool) and a stream import writes the decompressed image to a temporary file first (see
    O(tmp_dir)).
  - URLs are fetched with Ansible's URL options, as M(ansible.builtin.get_url) takes them
    (O(url_username), O(url_password), O(force_basic_auth), O(validate_certs), O(ca_path),
    O(client_cert), O(client_key), O(use_proxy), O(use_netrc), O(use_gssapi), O(http_agent),
    O(url_headers), O(timeout)), for O(url) and for a checksum file's URL alike. A failure starts with
    the option it is about - O(url_password) for credentials the server refused, O(ca_path) or
    O(validate_certs) for a certificate that was not verified, O(client_cert) for a server that wants
    (another) client certificate, O(checksum) for a checksum file without the image; problems found before the
    import (a checksum file without a line for the image, TLS files that cannot be used, a missing
    C(zstd) tool) fail in check mode too, before anything is touched. Passwords, passphrases and
    headers are not logged; a password in a URL is hidden like them, and messages show URLs without
    their credentials.
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
    description:
      - Import the image from this C(http), C(https), C(ftp) or C(file) URL, fetched by the host that runs
        the module with the URL options below.
      - Credentials in the URL (C(https://user:password@host/...)) are used when O(url_username) is not
        set, and never shown.
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
        V(sha512), or as C(algorithm:URL) of a checksum file (M(ansible.builtin.get_url)'s form, such
        as V(sha512:https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS)).
        Required with O(url) and O(src); the algorithm is never guessed.
      - A checksum file is fetched with the same URL options as O(url). The digest is taken from the
        line for the image's file name (the last part of O(url)'s path, or of O(src)) - C(HASH  name)
        and C(HASH *name) (C(sha256sum)'s text and binary forms), C(HASH name), or BSD's
        C(SHA256 (name) = HASH); comments and PGP signature lines are skipped; a file holding one
        digest and nothing else is that digest. No such line fails naming O(checksum), before anything
        is touched.
      - The checksum is that of the file as fetched - for a compressed image, the compressed file (see
        O(decompress)).
      - Verified when the image is fetched. An existing volume of O(name) is not compared with it
        (see the description - a new checksum with the same O(name) keeps the old image).
    type: str
  decompress:
    description:
      - Whether and how the fetched file is decompressed into the volume.
      - V(auto) - by the suffix of O(url)'s path or of O(src) - C(.xz), C(.gz), C(.bz2) or C(.zst); any
        other file is imported as it is.
      - V(none) - the file is imported as it is, whatever its name.
      - V(xz), V(gz), V(bz2), V(zst) - the file is in that format, whatever its name.
      - xz, gzip and bzip2 are decompressed by Python's standard library; zstd by the C(zstd) tool, which
        must be installed on the host that runs the module (a missing tool fails naming this option and
        the package to install, before anything is touched). Data that is not valid for the format, or
        that ends early, fails naming this option and keeps nothing.
    type: str
    choices: [auto, none, xz, gz, bz2, zst]
    default: auto
  url_username:
    description:
      - The user name for HTTP basic or digest authentication (and for GSSAPI) with O(url) and a checksum
        file's URL.
    type: str
  url_password:
    description: The password of O(url_username). Not logged.
    type: str
  force_basic_auth:
    description:
      - Send the basic authentication header with the first request, instead of only after the server
        answered HTTP 401 (some servers never ask).
    type: bool
    default: false
  url_headers:
    description: HTTP headers for O(url) and a checksum file's URL, such as an C(Authorization) header. Not logged.
    type: dict
    aliases: [headers]
  validate_certs:
    description: Verify the TLS certificate of an C(https) URL (O(url) and a checksum file's URL).
    type: bool
    default: true
  ca_path:
    description:
      - Absolute path on the host that runs the module of a PEM file of CA certificates that verify the
        server's certificate, instead of the system's.
    type: str
  client_cert:
    description:
      - Absolute path on the host that runs the module of a PEM client certificate for TLS client
        authentication (it may hold the key too).
    type: str
  client_key:
    description: Absolute path on the host that runs the module of the PEM key of O(client_cert), when it is not in that file.
    type: str
  client_key_passphrase:
    description:
      - The passphrase of an encrypted client key. Not logged. An encrypted key without it fails naming
        this option (it is never asked for on a terminal).
    type: str
  use_proxy:
    description:
      - Use the proxy set in the environment of the module (C(https_proxy), C(http_proxy), C(no_proxy)).
        V(false) connects directly.
    type: bool
    default: true
  use_netrc:
    description: Use credentials for the URL's host from C(~/.netrc) (or C($NETRC)) when no others are given.
    type: bool
    default: true
  use_gssapi:
    description: Authenticate with GSSAPI (Kerberos); needs the C(gssapi) Python library on the host that runs the module.
    type: bool
    default: false
  http_agent:
    description: The C(User-Agent) header.
    type: str
    default: ansible-httpget
  timeout:
    description: Seconds to wait for the server of O(url) or of a checksum file to answer or to send more data.
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
        A compressed image is staged there too, decompressed, whatever its length.
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

- name: Fetch a compressed image behind basic auth, verified by the SHA256SUMS file next to it
  kvmfleet.kvm.volume:
    pool: images
    url: https://images.example.com/appliance/appliance-2.4.qcow2.xz
    checksum: sha256:https://images.example.com/appliance/SHA256SUMS
    url_username: deploy
    url_password: "{{ vault_images_password }}"
    ca_path: /etc/pki/internal-ca.pem
  register: appliance  # appliance.name - appliance-2.4-sha256-<16 hex>.qcow2, decompressed

- name: Fetch an image from a server that wants a TLS client certificate
  kvmfleet.kvm.volume:
    pool: images
    name: golden.raw
    url: https://images.example.com/golden.raw.zst
    checksum: "sha512:{{ golden_sha512 }}"
    client_cert: /etc/kvmfleet/client.pem
    client_key: /etc/kvmfleet/client.key
    client_key_passphrase: "{{ vault_client_key_passphrase }}"

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
  description:
    - The checksum of an imported image, C(algorithm:hex digest) - for a checksum given as a URL, the
      digest read from that file (as given when the volume of O(name) exists and nothing was read).
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
