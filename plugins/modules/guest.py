#!/usr/bin/python
# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: guest
short_description: Declare a libvirt guest with typed options; update it in place, live where possible
version_added: 0.1.0
description:
  - Makes one libvirt guest (domain) match the options given. A guest that does not exist is
    created; a guest that exists is updated, comparing only the options that are set with what
    libvirt reports. Values libvirt fills in (MAC and PCI addresses, UUID, controllers, seclabel)
    never count as a change.
  - Each difference is applied live on a running guest when libvirt allows it (vCPUs up to
    O(max_vcpus), memory up to O(max_memory) through the balloon, NIC attach and detach, attach and
    detach of disks on the V(virtio) and V(scsi) buses, cdrom media, link state, disk growth, title,
    description, tags, autostart) and persisted; any other difference is
    persisted and takes effect at the next boot, reported in RV(reboot_required). The guest is
    restarted for it only with O(restart=if_needed).
  - Nothing is recreated silently; a difference that cannot be made in place (O(uuid), O(arch))
    fails and names the option that allows recreating.
  - All options are validated together before anything is changed; every error names its field,
    such as C(disks[1].size).
  - To converge many guests in one task, use M(kvmfleet.kvm.guests).
author:
  - kvmfleet maintainers (@kvmfleet)
extends_documentation_fragment:
  - kvmfleet.kvm.connection
  - kvmfleet.kvm.concurrency
  - kvmfleet.kvm.attributes
  - kvmfleet.kvm.attributes.action
  - kvmfleet.kvm.attributes.converge
options:
  name:
    description: Name of the guest.
    type: str
    required: true
  uuid:
    description: UUID of the guest. Default when created - chosen by libvirt. Cannot change in place.
    type: str
  title:
    description: A short title, shown by C(virsh list --title). Changed live.
    type: str
  description:
    description: A free-form description. Changed live.
    type: str
  tags:
    description:
      - Tags kept in the guest's metadata (namespace C(urn:kvmfleet:guest:1)), read back by the
        collection's inventory and fleet code. Order does not matter. Changed live.
    type: list
    elements: str
  virt_type:
    description:
      - V(kvm) for hardware acceleration, V(qemu) for TCG emulation. V(auto) picks V(kvm) only where
        the host can really run KVM guests (see M(kvmfleet.kvm.host_info)). Default when created - V(auto).
    type: str
    choices: [auto, kvm, qemu]
  arch:
    description: Guest CPU architecture. Default when created - V(x86_64). Cannot change in place.
    type: str
  machine:
    description:
      - Machine type. An alias such as V(q35) or V(pc) matches any version of that machine type, so
        a QEMU upgrade does not make guests differ. Default when created - V(q35).
    type: str
  emulator:
    description: Path of the QEMU binary. Default - libvirt's choice for O(arch).
    type: str
  firmware:
    description: V(bios) (SeaBIOS) or V(uefi) (OVMF, with a persistent nvram that removal deletes).
    type: str
    choices: [bios, uefi]
  secure_boot:
    description: UEFI secure boot with enrolled keys. Needs O(firmware=uefi) and the q35 machine.
    type: bool
  kernel:
    description: Absolute path of a kernel on the hypervisor, for direct kernel boot.
    type: str
  initrd:
    description: Absolute path of an initrd on the hypervisor, for direct kernel boot.
    type: str
  cmdline:
    description: Kernel command line, for direct kernel boot.
    type: str
  boot:
    description: Boot device order. Excludes per-device O(disks[].boot_order) and O(interfaces[].boot_order).
    type: list
    elements: str
    choices: [hd, cdrom, network]
  vcpus:
    description: Number of vCPUs. Changed live up to O(max_vcpus). Default when created - V(1).
    type: int
  max_vcpus:
    description: Maximum vCPUs for hotplug. Default - O(vcpus).
    type: int
  cpu:
    description: CPU model, topology, pinning and NUMA cells.
    type: dict
    suboptions:
      mode:
        description: How the guest CPU relates to the host's.
        type: str
        choices: [host-passthrough, host-model, custom, maximum]
      model:
        description: CPU model for O(cpu.mode=custom).
        type: str
      sockets:
        description: Sockets; with O(cpu.cores) and O(cpu.threads), their product must equal the vCPUs.
        type: int
      cores:
        description: Cores per socket.
        type: int
      threads:
        description: Threads per core.
        type: int
      pinning:
        description: vCPU to host CPU pinning, one item per vCPU, in any order.
        type: list
        elements: dict
        suboptions:
          vcpu:
            description: vCPU number, from 0.
            type: int
            required: true
          cpuset:
            description: Host CPUs, such as V(2) or V(0-3,^1). Compared as the set of CPUs (V(0,1) is V(0-1)).
            type: str
            required: true
      numa:
        description:
          - Guest NUMA cells, with disjoint vCPUs that the guest has.
          - libvirt makes the sum of the cells' memory the guest's maximum memory - O(max_memory), when
            set, must equal it, and O(memory) must not exceed it.
        type: list
        elements: dict
        suboptions:
          cpus:
            description: vCPUs of the cell, such as V(0-1).
            type: str
            required: true
          memory:
            description: Memory of the cell, with a unit (V(1GiB)); a bare number is MiB.
            type: raw
            required: true
  memory:
    description:
      - Memory, with a unit (V(512M), V(2GiB)); a bare number is MiB. Changed live (balloon) up to
        O(max_memory). Default when created - V(512MiB).
    type: raw
  max_memory:
    description: Maximum memory the balloon can give the guest. Default - O(memory).
    type: raw
  hugepages:
    description: Back the guest's memory with huge pages.
    type: bool
  balloon:
    description: A virtio memory balloon (needed to change O(memory) live; without it a memory change waits for the next boot). libvirt adds one by default.
    type: bool
  tb_cache:
    description:
      - Translation block cache of a TCG (V(qemu)) guest, with a unit. QEMU's default costs 1 GiB of
        host memory per guest. Default when created - V(32MiB). Ignored for KVM guests.
    type: raw
  disks:
    description:
      - The guest's disks, in order. Each is an overlay on a base image (O(disks[].backing_image)),
        a new blank volume (O(disks[].size)), an existing volume (O(disks[].volume)) or path
        (O(disks[].path)), or a cdrom. Volumes are created when absent; sizes grow, never shrink.
      - When set, the list is complete - disks not in it are detached (their volumes are kept).
      - QEMU cannot hot-plug V(sata) disks - on a running guest, adding or removing one changes the
        persistent definition only and is reported in RV(reboot_required).
    type: list
    elements: dict
    suboptions:
      device:
        description: V(disk) or V(cdrom).
        type: str
        choices: [disk, cdrom]
        default: disk
      bus:
        description: Bus. Default V(virtio) for disks, V(sata) for cdroms.
        type: str
        choices: [virtio, scsi, sata]
      target:
        description: Device name in the guest (V(vda), V(sdb)). Default - the next free name on the bus.
        type: str
      pool:
        description: Storage pool of the volume. Default V(default).
        type: str
      volume:
        description: Volume name. Default for new volumes - V(<name>-<target>.<format>).
        type: str
      size:
        description: Capacity, with a unit; a bare number is GiB. Grown live on a running guest.
        type: raw
      format:
        description:
          - Image format. Default V(qcow2) for new volumes.
          - Pools of block devices (C(logical), C(zfs), C(rbd), C(iscsi)) hold raw volumes only - set V(raw)
            there; V(qcow2) or O(disks[].backing_image) in such a pool is refused before anything is done.
        type: str
        choices: [qcow2, raw]
      backing_image:
        description:
          - Base image of a copy-on-write qcow2 overlay - a volume name in O(disks[].pool) or an absolute
            path of a volume. Creating the overlay costs the same whatever the base's size. Used
            when the volume is created.
        type: str
      path:
        description: Absolute path of an existing file or block device.
        type: str
      cache:
        description: Host cache mode.
        type: str
        choices: [default, none, writeback, writethrough, directsync, unsafe]
      io:
        description: I/O mode.
        type: str
        choices: [native, threads, io_uring]
      discard:
        description: Pass discard (TRIM) requests to the image.
        type: str
        choices: [unmap, ignore]
      readonly:
        description: Read-only disk.
        type: bool
      boot_order:
        description: Boot order of this disk (1 first).
        type: int
  interfaces:
    description:
      - The guest's network interfaces, in order. When set, the list is complete - interfaces not in
        it are detached. An interface without O(interfaces[].mac) is matched by position; a new one gets
        a MAC derived from the guest name and position, so reruns never churn.
    type: list
    elements: dict
    suboptions:
      type:
        description: V(network) (libvirt network), V(bridge) (host bridge) or V(direct) (macvtap).
        type: str
        choices: [network, bridge, direct]
        default: network
      source:
        description: The network's name, the bridge, or the host interface for V(direct).
        type: str
        required: true
      model:
        description: NIC model. Default V(virtio).
        type: str
        choices: [virtio, e1000, e1000e, rtl8139, vmxnet3]
      mac:
        description: MAC address.
        type: str
      vlan:
        description: VLAN tag (Open vSwitch bridges and V(direct) interfaces).
        type: int
      link_state:
        description: Link state. Changed live.
        type: str
        choices: [up, down]
      mode:
        description: macvtap mode, for V(direct).
        type: str
        choices: [bridge, vepa, private, passthrough]
      boot_order:
        description: Boot order of this interface (1 first).
        type: int
  cloud_init:
    description:
      - cloud-init NoCloud data, written to a seed ISO volume V(<name>-cidata.iso) attached as a cdrom.
        The ISO is rebuilt only when its content changes (a digest is kept in the guest's metadata).
      - The module writes the ISO itself (ISO 9660 with Joliet names, volume label V(cidata)); no ISO tool is
        needed on the host that runs it. The same content always gives the same image.
    type: dict
    suboptions:
      user_data:
        description: User data - a string, or a dictionary written as C(#cloud-config). Never shown in output.
        type: raw
      meta_data:
        description: Meta data, a string or dictionary. Default - instance-id and local-hostname set to O(name).
        type: raw
      network_config:
        description: Network configuration (version 1 or 2), a string or dictionary.
        type: raw
      pool:
        description: Pool of the seed volume. Default - the first disk's pool, else V(default).
        type: str
  console:
    description: The serial console. Default when created - a pty.
    type: dict
    suboptions:
      type:
        description: V(pty) (C(virsh console)) or V(file) (output only).
        type: str
        choices: [pty, file]
        default: pty
      log:
        description: Absolute path of a file that receives everything the console prints.
        type: str
  graphics:
    description: Graphical console.
    type: dict
    suboptions:
      type:
        description: V(none), V(vnc) or V(spice).
        type: str
        choices: [none, vnc, spice]
        required: true
      listen:
        description: Address to listen on. Default V(127.0.0.1).
        type: str
      port:
        description: Port; V(-1) (default) picks one when the guest starts.
        type: int
      password:
        description: Console password. Never shown in output. A change is persisted; a running guest gets it at its next boot.
        type: str
  video:
    description: Video device model.
    type: str
    choices: [none, virtio, vga, qxl, bochs, cirrus, ramfb]
  rng:
    description: A virtio random number generator fed from the host's C(/dev/urandom).
    type: bool
  guest_agent:
    description: The QEMU guest agent channel. Default when created - V(true).
    type: bool
  tpm:
    description: An emulated TPM 2.0 (needs C(swtpm) on the hypervisor).
    type: bool
  hostdevs:
    description: Host PCI devices passed through, by address (V(0000:03:00.0)).
    type: list
    elements: str
  watchdog:
    description: A watchdog device.
    type: dict
    suboptions:
      model:
        description: Watchdog model.
        type: str
        choices: [i6300esb, itco, ib700]
        default: i6300esb
      action:
        description: What happens when it fires.
        type: str
        choices: [reset, shutdown, poweroff, pause, none, dump, inject-nmi]
        default: reset
  xml_patches:
    description:
      - Changes of the guest's definition that no option here covers (sound, USB controllers, virtiofs,
        iothreads, clock timers, hypervisor features, QEMU command line arguments...), applied in order
        after every other option, to a new definition and to the persistent definition of a defined guest.
        A running guest gets them at its next boot, as a change that is not live (see
        RV(reboot_required)).
      - Each patch names elements by O(xml_patches[].xpath) and says what they must be; a patch is a change
        only when the definition is not already so, and what libvirt adds to an element (a PCI address, an
        alias) does not count. Check mode and the diff show each patch that would change the definition
        (C(xml_patches[N]) - what the path selects now, and what it would be).
      - A definition with patches is defined with libvirt's schema check (VIR_DOMAIN_DEFINE_VALIDATE); a
        patch that makes it invalid fails with libvirt's words and the definition is not changed. Check mode
        cannot run that check (libvirt checks only when it defines).
      - A patch on an element one of this guest's options writes (O(vcpus) writes C(<vcpu>), O(graphics)
        C(<devices><graphics>), O(disks) C(<devices><disk>)...) is refused, naming both, before anything
        is done.
    type: list
    elements: dict
    suboptions:
      xpath:
        description:
          - The elements, by a path from C(<domain>) in ElementTree's XPath subset, such as
            V(devices/sound[@model='ich9']), V(features/pmu), V(clock/timer[@name='rtc']); a leading
            C(/domain/) is allowed. Namespaced elements in Clark notation,
            V({http://libvirt.org/schemas/domain/qemu/1.0}commandline).
          - When it selects nothing, a path of names with C([@name='value']) conditions is made (with those
            attributes); any other path (C(//), positions) only changes or removes what is there.
        type: str
        required: true
      state:
        description:
          - V(present) - as O(xml_patches[].element), O(xml_patches[].attribute) and O(xml_patches[].value) say.
          - V(absent) - no element matches (or, with O(xml_patches[].attribute), none has that attribute).
        type: str
        choices: [present, absent]
        default: present
      element:
        description:
          - An XML fragment of one element. Each element selected holds at least its attributes, text and
            children, else it is replaced by it; when none is selected, it is added under the path's parent.
        type: str
      attribute:
        description: An attribute of the elements selected, set to O(xml_patches[].value) (or removed with V(absent)).
        type: str
      value:
        description: The attribute's value, or without O(xml_patches[].attribute) the elements' text.
        type: str
  on_poweroff:
    description: What libvirt does when the guest powers off.
    type: str
    choices: [destroy, restart, preserve, rename-restart]
  on_reboot:
    description: What libvirt does when the guest reboots.
    type: str
    choices: [destroy, restart, preserve, rename-restart]
  on_crash:
    description: What libvirt does when the guest crashes.
    type: str
    choices: [destroy, restart, preserve, rename-restart, coredump-destroy, coredump-restart]
  autostart:
    description: Start the guest when the hypervisor boots. Changed immediately.
    type: bool
  state:
    description:
      - V(present) - defined, its power state left as it is.
      - V(running), V(paused) - defined and in that state.
      - V(stopped) - defined and shut down gracefully; waits until it is off (O(shutdown_timeout)), then
        fails unless O(force=true) allows a power-off.
      - V(absent) - shut down like V(stopped), then undefined with its UEFI nvram and snapshot
        metadata; volumes are kept unless O(remove_volumes=true). Idempotent.
      - V(restarted) - a command, done on every run (V(changed=true)), after the other changes of the task -
        a running guest is shut down like V(stopped) (O(force=true) allows the power-off when it does not
        stop within O(shutdown_timeout)) and started again, as a new QEMU process, so changes waiting for
        the next boot apply (RV(reboot_required) is then false). A paused guest comes back paused, a stopped
        or new one is started.
      - V(reset) - a command, done on every run - the running guest is reset at once, as by its reset
        button (the same QEMU process boots again; no shutdown, so what the guest has not written to its
        disks is lost). It needs O(force=true), else the task fails naming it with nothing done. Changes
        waiting for the next boot do not apply. A stopped or new guest is started.
      - A guest libvirt is still starting, saving, restoring, snapshotting or shutting down, or with a block
        pull or commit running, is waited for (at most O(shutdown_timeout) seconds, also in check mode) and
        planned from the state it settles in (RV(settled) says so). A guest being migrated, in a post-copy
        phase, being backed up or with a block copy (mirror) running fails at once naming the job and how
        to end it; nothing is changed.
      - An action whose starting point vanished between the plan and the action (a resume of a guest that
        runs by now, a shutdown of one that went off, the undefine of one that is gone, a volume another run
        created just as this run would have) is judged by the end state, not reported as an error.
    type: str
    choices: [present, running, stopped, paused, absent, restarted, reset]
    default: present
  restart:
    description:
      - V(if_needed) restarts a running guest (graceful shutdown, then start) when changes take effect
        only at the next boot. V(never) leaves it running and reports RV(reboot_required).
    type: str
    choices: [never, if_needed]
    default: never
  force:
    description:
      - Allow a forced power-off when a graceful shutdown does not finish within O(shutdown_timeout).
      - Allow O(state=reset).
    type: bool
    default: false
  recreate:
    description: Allow undefining and defining the guest again for changes that cannot be made in place.
    type: bool
    default: false
  remove_volumes:
    description: With O(state=absent), also delete the volumes the guest writes to (and its cloud-init seed). Read-only media are kept.
    type: bool
    default: false
  remove_snapshots:
    description:
      - With O(state=absent), allow removing a guest that has snapshots (M(kvmfleet.kvm.snapshot)), which
        deletes their metadata. Without it such a guest is not removed and the task fails naming this option.
    type: bool
    default: false
  shutdown_timeout:
    description:
      - Seconds to wait for a graceful shutdown.
      - Also the longest wait for a guest in a transient state to settle before it is planned (see O(state)).
    type: int
    default: 120
  return_xml:
    description: Return the guest's persistent XML definition as RV(xml).
    type: bool
    default: false
  wait:
    description:
      - Wait until the guest has an IP address (and, with O(wait.ssh=true), until an SSH server answers
        on it), then return its addresses as RV(addresses) and RV(address). V({}) waits with the defaults.
      - Applies when the guest runs after the task (O(state=running), or a running guest with
        O(state=present)); not in check mode. Waiting never counts as a change.
      - "On time-out the task fails; the message lists every source tried and what each said, such as
        C(web1: no address within 300 s (tried lease: no address; agent: Guest agent is not responding; arp: no address))."
      - M(kvmfleet.kvm.guests) waits for all its guests at the same time.
    type: dict
    suboptions:
      sources:
        description:
          - Where to look, in order of preference; any address from any of them will do.
          - V(lease) - the DHCP lease of a libvirt network. V(agent) - the QEMU guest agent in the
            guest (needs O(guest_agent) and the agent installed in the guest). V(arp) - the host's ARP
            table (guests on host bridges that have sent traffic).
        type: list
        elements: str
        choices: [lease, agent, arp]
        default: [lease, agent, arp]
      ssh:
        description: Also wait until an SSH server answers (sends its banner) on O(wait.port) of one of the addresses.
        type: bool
        default: false
      port:
        description: The SSH port.
        type: int
        default: 22
      timeout:
        description: Seconds to wait at most.
        type: int
        default: 300
  placement:
    description:
      - Where the fleet places the guest - read by the placement of the guests role (C(guests_fleet),
        M(kvmfleet.kvm.placement)) and by M(kvmfleet.kvm.drain). This module checks it and otherwise
        ignores it; it is not part of the guest's definition.
    type: dict
    suboptions:
      hypervisor:
        description: The inventory name of the hypervisor the guest must run on.
        type: str
      requires:
        description: Labels its hypervisor must have (see M(kvmfleet.kvm.hypervisor)).
        type: list
        elements: str
attributes:
  idempotent:
    support: partial
    description:
      - A second run with the same options changes nothing, except with O(state=restarted) or O(state=reset),
        which are commands done on every run.
seealso:
  - module: kvmfleet.kvm.guests
  - module: kvmfleet.kvm.host_info
"""

EXAMPLES = r"""
- name: What the options do not cover, as XML patches (a sound card, PMU off, an RTC timer, QEMU arguments, I/O threads)
  kvmfleet.kvm.guest:
    name: media1
    memory: 2GiB
    xml_patches:
      - xpath: devices/sound[@model='ich9']
        element: <sound model='ich9'><codec type='micro'/></sound>
      - xpath: features/pmu
        attribute: state
        value: "off"
      - xpath: clock
        attribute: offset
        value: utc
      - xpath: clock/timer[@name='rtc']
        attribute: tickpolicy
        value: catchup
      - xpath: "{http://libvirt.org/schemas/domain/qemu/1.0}commandline"
        element: >-
          <qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
          <qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/></qemu:commandline>
      - xpath: iothreads
        value: "2"

- name: Restart web1 (a handler, say), powered off if it has not shut down within a minute
  kvmfleet.kvm.guest:
    name: web1
    state: restarted
    shutdown_timeout: 60
    force: true

- name: A guest from a base image, with cloud-init, running
  kvmfleet.kvm.guest:
    name: web1
    memory: 2GiB
    max_memory: 4GiB
    vcpus: 2
    max_vcpus: 4
    disks:
      - backing_image: debian-12-genericcloud-amd64.qcow2
        size: 20GiB
    interfaces:
      - source: default
    cloud_init:
      user_data:
        users:
          - name: admin
            ssh_authorized_keys: ["{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"]
            sudo: ALL=(ALL) NOPASSWD:ALL
    tags: [web, production]
    state: running
    wait:
      ssh: true  # until sshd answers on the address from the DHCP lease or the guest agent
  register: web1

- name: Reach it in the next play
  ansible.builtin.add_host:
    name: web1
    ansible_host: "{{ web1.address }}"
    groups: [web]

- name: More memory - applied live, no restart
  kvmfleet.kvm.guest:
    name: web1
    memory: 3GiB

- name: A change that needs a reboot, and the restart allowed
  kvmfleet.kvm.guest:
    name: web1
    machine: pc-q35-7.2
    restart: if_needed

- name: Remove the guest and its volumes
  kvmfleet.kvm.guest:
    name: web1
    state: absent
    force: true
    remove_volumes: true
"""

RETURN = r"""
name:
  description: The guest's name.
  returned: always
  type: str
  sample: web1
state:
  description: The guest's power state after the run (predicted in check mode).
  returned: always
  type: str
  sample: running
  choices: [running, paused, stopped, absent]
actions:
  description: What was done (in check mode - what would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["set memory to 3GiB on the running guest", "update the persistent definition: memory"]
reboot_required:
  description: V(true) when changes were persisted that the running guest gets only at its next boot.
  returned: always
  type: bool
  sample: false
reboot_required_fields:
  description: The options behind RV(reboot_required).
  returned: always
  type: list
  elements: str
  sample: [machine]
settled:
  description: What the module waited for before planning the guest (a transient state libvirt was in).
  returned: when the guest was in a transient state
  type: str
  sample: "waited for web1 to settle: libvirt is starting it"
diff:
  description: The options that differ, before and after.
  returned: always
  type: dict
  sample: {"before": {"memory": "2GiB"}, "after": {"memory": "3GiB"}}
addresses:
  description:
    - The guest's usable IP addresses (no loopback or link-local), each once, from the sources in
      O(wait.sources) order.
  returned: when O(wait) is set and the guest runs (not in check mode)
  type: list
  elements: dict
  sample: [{"address": "192.168.122.10", "prefix": 24, "family": "ipv4", "mac": "52:54:00:12:34:56",
            "interface": "vnet3", "source": "lease"}]
address:
  description: The address to reach the guest at - the first IPv4 address of RV(addresses), else the first IPv6 address.
  returned: when O(wait) is set and the guest runs (not in check mode)
  type: str
  sample: 192.168.122.10
waited:
  description: Seconds spent waiting.
  returned: when O(wait) is set and the guest runs (not in check mode)
  type: float
  sample: 7.5
xml:
  description:
    - The persistent XML definition (in check mode - the definition that would be written, or the
      current one when nothing would change). Passwords libvirt keeps are not included.
  returned: when O(return_xml=true) and the guest exists after the run (in check mode - would exist)
  type: str
errors:
  description: "Every problem of the input, each starting with the option it is about (V(disks[1].size: ...)); nothing was done."
  returned: when the input is invalid
  type: list
  elements: str
  sample: ["disks[1].size: unknown unit 'x' in '1x'; use B, KiB, MiB, GiB, TiB (or K, M, G, T; KB, MB, GB, TB)"]
needs_option:
  description:
    - The option that would allow what the task needs (V(recreate), V(force), V(remove_snapshots)). Nothing was done,
      unless a shutdown the run had begun did not end within O(shutdown_timeout) (V(force)); RV(done) then says what was.
  returned: when the task failed because an action needs an option
  type: str
  sample: recreate
done:
  description: When the task failed while its actions ran, the actions that completed before the failure (in check mode none run).
  returned: when an action failed
  type: list
  elements: str
  sample: ["create volume web1-vda.qcow2 (10 GiB qcow2, overlay on /var/lib/libvirt/images/debian-12.qcow2)", "define guest web1"]
"""

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.module import run_guest_module


def main() -> None:
    run_guest_module()


if __name__ == "__main__":
    main()
