# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Written by scripts/item_docs.py from plugins/modules/guest.py and pool.py: edit those, then run it.
"""The items of kvmfleet.kvm.guests and kvmfleet.kvm.pools: the options of kvmfleet.kvm.guest and pool, nested."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
"""

    GUESTS = r"""
options:
  guests:
    description:
    - The guests. Each item takes every option of M(kvmfleet.kvm.guest) except O(uri),
      as documented there (O(guests[].name) is required); O(defaults) are beneath
      each item.
    - Secrets in the items and in O(defaults) (C(cloud_init.user_data), C(graphics.password))
      are never shown in output.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the guest.
        type: str
        required: true
      uuid:
        description: UUID of the guest. Default when created - chosen by libvirt.
          Cannot change in place.
        type: str
      title:
        description: A short title, shown by C(virsh list --title). Changed live.
        type: str
      description:
        description: A free-form description. Changed live.
        type: str
      tags:
        description:
        - Tags kept in the guest's metadata (namespace C(urn:kvmfleet:guest:1)), read
          back by the collection's inventory and fleet code. Order does not matter.
          Changed live.
        type: list
        elements: str
      virt_type:
        description:
        - V(kvm) for hardware acceleration, V(qemu) for TCG emulation. V(auto) picks
          V(kvm) only where the host can really run KVM guests (see M(kvmfleet.kvm.host_info)).
          Default when created - V(auto).
        type: str
        choices:
        - auto
        - kvm
        - qemu
      arch:
        description: Guest CPU architecture. Default when created - V(x86_64). Cannot
          change in place.
        type: str
      machine:
        description:
        - Machine type. An alias such as V(q35) or V(pc) matches any version of that
          machine type, so a QEMU upgrade does not make guests differ. Default when
          created - V(q35).
        type: str
      emulator:
        description: Path of the QEMU binary. Default - libvirt's choice for O(guests[].arch).
        type: str
      firmware:
        description: V(bios) (SeaBIOS) or V(uefi) (OVMF, with a persistent nvram that
          removal deletes).
        type: str
        choices:
        - bios
        - uefi
      secure_boot:
        description: UEFI secure boot with enrolled keys. Needs O(guests[].firmware=uefi)
          and the q35 machine.
        type: bool
      kernel:
        description: Absolute path of a kernel on the hypervisor, for direct kernel
          boot.
        type: str
      initrd:
        description: Absolute path of an initrd on the hypervisor, for direct kernel
          boot.
        type: str
      cmdline:
        description: Kernel command line, for direct kernel boot.
        type: str
      boot:
        description: Boot device order. Excludes per-device O(guests[].disks[].boot_order)
          and O(guests[].interfaces[].boot_order).
        type: list
        elements: str
        choices:
        - hd
        - cdrom
        - network
      vcpus:
        description: Number of vCPUs. Changed live up to O(guests[].max_vcpus). Default
          when created - V(1).
        type: int
      max_vcpus:
        description: Maximum vCPUs for hotplug. Default - O(guests[].vcpus).
        type: int
      cpu:
        description: CPU model, topology, pinning and NUMA cells.
        type: dict
        suboptions:
          mode:
            description: How the guest CPU relates to the host's.
            type: str
            choices:
            - host-passthrough
            - host-model
            - custom
            - maximum
          model:
            description: CPU model for O(guests[].cpu.mode=custom).
            type: str
          sockets:
            description: Sockets; with O(guests[].cpu.cores) and O(guests[].cpu.threads),
              their product must equal the vCPUs.
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
                description: Host CPUs, such as V(2) or V(0-3,^1). Compared as the
                  set of CPUs (V(0,1) is V(0-1)).
                type: str
                required: true
          numa:
            description:
            - Guest NUMA cells, with disjoint vCPUs that the guest has.
            - libvirt makes the sum of the cells' memory the guest's maximum memory
              - O(guests[].max_memory), when set, must equal it, and O(guests[].memory)
              must not exceed it.
            type: list
            elements: dict
            suboptions:
              cpus:
                description: vCPUs of the cell, such as V(0-1).
                type: str
                required: true
              memory:
                description: Memory of the cell, with a unit (V(1GiB)); a bare number
                  is MiB.
                type: raw
                required: true
      memory:
        description:
        - Memory, with a unit (V(512M), V(2GiB)); a bare number is MiB. Changed live
          (balloon) up to O(guests[].max_memory). Default when created - V(512MiB).
        type: raw
      max_memory:
        description: Maximum memory the balloon can give the guest. Default - O(guests[].memory).
        type: raw
      hugepages:
        description: Back the guest's memory with huge pages.
        type: bool
      balloon:
        description: A virtio memory balloon (needed to change O(guests[].memory)
          live; without it a memory change waits for the next boot). libvirt adds
          one by default.
        type: bool
      tb_cache:
        description:
        - Translation block cache of a TCG (V(qemu)) guest, with a unit. QEMU's default
          costs 1 GiB of host memory per guest. Default when created - V(32MiB). Ignored
          for KVM guests.
        type: raw
      disks:
        description:
        - The guest's disks, in order. Each is an overlay on a base image (O(guests[].disks[].backing_image)),
          a new blank volume (O(guests[].disks[].size)), an existing volume (O(guests[].disks[].volume))
          or path (O(guests[].disks[].path)), or a cdrom. Volumes are created when
          absent; sizes grow, never shrink.
        - When set, the list is complete - disks not in it are detached (their volumes
          are kept).
        - QEMU cannot hot-plug V(sata) disks - on a running guest, adding or removing
          one changes the persistent definition only and is reported in RV(kvmfleet.kvm.guest#module:reboot_required).
        type: list
        elements: dict
        suboptions:
          device:
            description: V(disk) or V(cdrom).
            type: str
            choices:
            - disk
            - cdrom
            default: disk
          bus:
            description: Bus. Default V(virtio) for disks, V(sata) for cdroms.
            type: str
            choices:
            - virtio
            - scsi
            - sata
          target:
            description: Device name in the guest (V(vda), V(sdb)). Default - the
              next free name on the bus.
            type: str
          pool:
            description: Storage pool of the volume. Default V(default).
            type: str
          volume:
            description: Volume name. Default for new volumes - V(<name>-<target>.<format>).
            type: str
          size:
            description: Capacity, with a unit; a bare number is GiB. Grown live on
              a running guest.
            type: raw
          format:
            description:
            - Image format. Default V(qcow2) for new volumes.
            - Pools of block devices (C(logical), C(zfs), C(rbd), C(iscsi)) hold raw
              volumes only - set V(raw) there; V(qcow2) or O(guests[].disks[].backing_image)
              in such a pool is refused before anything is done.
            type: str
            choices:
            - qcow2
            - raw
          backing_image:
            description:
            - Base image of a copy-on-write qcow2 overlay - a volume name in O(guests[].disks[].pool)
              or an absolute path of a volume. Creating the overlay costs the same
              whatever the base's size. Used when the volume is created.
            type: str
          path:
            description: Absolute path of an existing file or block device.
            type: str
          cache:
            description: Host cache mode.
            type: str
            choices:
            - default
            - none
            - writeback
            - writethrough
            - directsync
            - unsafe
          io:
            description: I/O mode.
            type: str
            choices:
            - native
            - threads
            - io_uring
          discard:
            description: Pass discard (TRIM) requests to the image.
            type: str
            choices:
            - unmap
            - ignore
          readonly:
            description: Read-only disk.
            type: bool
          boot_order:
            description: Boot order of this disk (1 first).
            type: int
      interfaces:
        description:
        - The guest's network interfaces, in order. When set, the list is complete
          - interfaces not in it are detached. An interface without O(guests[].interfaces[].mac)
          is matched by position; a new one gets a MAC derived from the guest name
          and position, so reruns never churn.
        type: list
        elements: dict
        suboptions:
          type:
            description: V(network) (libvirt network), V(bridge) (host bridge) or
              V(direct) (macvtap).
            type: str
            choices:
            - network
            - bridge
            - direct
            default: network
          source:
            description: The network's name, the bridge, or the host interface for
              V(direct).
            type: str
            required: true
          model:
            description: NIC model. Default V(virtio).
            type: str
            choices:
            - virtio
            - e1000
            - e1000e
            - rtl8139
            - vmxnet3
          mac:
            description: MAC address.
            type: str
          vlan:
            description: VLAN tag (Open vSwitch bridges and V(direct) interfaces).
            type: int
          link_state:
            description: Link state. Changed live.
            type: str
            choices:
            - up
            - down
          mode:
            description: macvtap mode, for V(direct).
            type: str
            choices:
            - bridge
            - vepa
            - private
            - passthrough
          boot_order:
            description: Boot order of this interface (1 first).
            type: int
      cloud_init:
        description:
        - cloud-init NoCloud data, written to a seed ISO volume V(<name>-cidata.iso)
          attached as a cdrom. The ISO is rebuilt only when its content changes (a
          digest is kept in the guest's metadata).
        - The module writes the ISO itself (ISO 9660 with Joliet names, volume label
          V(cidata)); no ISO tool is needed on the host that runs it. The same content
          always gives the same image.
        type: dict
        suboptions:
          user_data:
            description: User data - a string, or a dictionary written as C(#cloud-config).
              Never shown in output.
            type: raw
          meta_data:
            description: Meta data, a string or dictionary. Default - instance-id
              and local-hostname set to O(guests[].name).
            type: raw
          network_config:
            description: Network configuration (version 1 or 2), a string or dictionary.
            type: raw
          pool:
            description: Pool of the seed volume. Default - the first disk's pool,
              else V(default).
            type: str
      console:
        description: The serial console. Default when created - a pty.
        type: dict
        suboptions:
          type:
            description: V(pty) (C(virsh console)) or V(file) (output only).
            type: str
            choices:
            - pty
            - file
            default: pty
          log:
            description: Absolute path of a file that receives everything the console
              prints.
            type: str
      graphics:
        description: Graphical console.
        type: dict
        suboptions:
          type:
            description: V(none), V(vnc) or V(spice).
            type: str
            choices:
            - none
            - vnc
            - spice
            required: true
          listen:
            description: Address to listen on. Default V(127.0.0.1).
            type: str
          port:
            description: Port; V(-1) (default) picks one when the guest starts.
            type: int
          password:
            description: Console password. Never shown in output. A change is persisted;
              a running guest gets it at its next boot.
            type: str
      video:
        description: Video device model.
        type: str
        choices:
        - none
        - virtio
        - vga
        - qxl
        - bochs
        - cirrus
        - ramfb
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
            choices:
            - i6300esb
            - itco
            - ib700
            default: i6300esb
          action:
            description: What happens when it fires.
            type: str
            choices:
            - reset
            - shutdown
            - poweroff
            - pause
            - none
            - dump
            - inject-nmi
            default: reset
      xml_patches:
        description:
        - Changes of the guest's definition that no option here covers (sound, USB
          controllers, virtiofs, iothreads, clock timers, hypervisor features, QEMU
          command line arguments...), applied in order after every other option, to
          a new definition and to the persistent definition of a defined guest. A
          running guest gets them at its next boot, as a change that is not live (see
          RV(kvmfleet.kvm.guest#module:reboot_required)).
        - Each patch names elements by O(guests[].xml_patches[].xpath) and says what
          they must be; a patch is a change only when the definition is not already
          so, and what libvirt adds to an element (a PCI address, an alias) does not
          count. Check mode and the diff show each patch that would change the definition
          (C(xml_patches[N]) - what the path selects now, and what it would be).
        - A definition with patches is defined with libvirt's schema check (VIR_DOMAIN_DEFINE_VALIDATE);
          a patch that makes it invalid fails with libvirt's words and the definition
          is not changed. Check mode cannot run that check (libvirt checks only when
          it defines).
        - A patch on an element one of this guest's options writes (O(guests[].vcpus)
          writes C(<vcpu>), O(guests[].graphics) C(<devices><graphics>), O(guests[].disks)
          C(<devices><disk>)...) is refused, naming both, before anything is done.
        type: list
        elements: dict
        suboptions:
          xpath:
            description:
            - The elements, by a path from C(<domain>) in ElementTree's XPath subset,
              such as V(devices/sound[@model='ich9']), V(features/pmu), V(clock/timer[@name='rtc']);
              a leading C(/domain/) is allowed. Namespaced elements in Clark notation,
              V({http://libvirt.org/schemas/domain/qemu/1.0}commandline).
            - When it selects nothing, a path of names with C([@name='value']) conditions
              is made (with those attributes); any other path (C(//), positions) only
              changes or removes what is there.
            type: str
            required: true
          state:
            description:
            - V(present) - as O(guests[].xml_patches[].element), O(guests[].xml_patches[].attribute)
              and O(guests[].xml_patches[].value) say.
            - V(absent) - no element matches (or, with O(guests[].xml_patches[].attribute),
              none has that attribute).
            type: str
            choices:
            - present
            - absent
            default: present
          element:
            description:
            - An XML fragment of one element. Each element selected holds at least
              its attributes, text and children, else it is replaced by it; when none
              is selected, it is added under the path's parent.
            type: str
          attribute:
            description: An attribute of the elements selected, set to O(guests[].xml_patches[].value)
              (or removed with V(absent)).
            type: str
          value:
            description: The attribute's value, or without O(guests[].xml_patches[].attribute)
              the elements' text.
            type: str
      on_poweroff:
        description: What libvirt does when the guest powers off.
        type: str
        choices:
        - destroy
        - restart
        - preserve
        - rename-restart
      on_reboot:
        description: What libvirt does when the guest reboots.
        type: str
        choices:
        - destroy
        - restart
        - preserve
        - rename-restart
      on_crash:
        description: What libvirt does when the guest crashes.
        type: str
        choices:
        - destroy
        - restart
        - preserve
        - rename-restart
        - coredump-destroy
        - coredump-restart
      autostart:
        description: Start the guest when the hypervisor boots. Changed immediately.
        type: bool
      state:
        description:
        - V(present) - defined, its power state left as it is.
        - V(running), V(paused) - defined and in that state.
        - V(stopped) - defined and shut down gracefully; waits until it is off (O(guests[].shutdown_timeout)),
          then fails unless O(guests[].force=true) allows a power-off.
        - V(absent) - shut down like V(stopped), then undefined with its UEFI nvram
          and snapshot metadata; volumes are kept unless O(guests[].remove_volumes=true).
          Idempotent.
        - V(restarted) - a command, done on every run (V(changed=true)), after the
          other changes of the task - a running guest is shut down like V(stopped)
          (O(guests[].force=true) allows the power-off when it does not stop within
          O(guests[].shutdown_timeout)) and started again, as a new QEMU process,
          so changes waiting for the next boot apply (RV(kvmfleet.kvm.guest#module:reboot_required)
          is then false). A paused guest comes back paused, a stopped or new one is
          started.
        - V(reset) - a command, done on every run - the running guest is reset at
          once, as by its reset button (the same QEMU process boots again; no shutdown,
          so what the guest has not written to its disks is lost). It needs O(guests[].force=true),
          else the task fails naming it with nothing done. Changes waiting for the
          next boot do not apply. A stopped or new guest is started.
        - A guest libvirt is still starting, saving, restoring, snapshotting or shutting
          down, or with a block pull or commit running, is waited for (at most O(guests[].shutdown_timeout)
          seconds, also in check mode) and planned from the state it settles in (RV(kvmfleet.kvm.guest#module:settled)
          says so). A guest being migrated, in a post-copy phase, being backed up
          or with a block copy (mirror) running fails at once naming the job and how
          to end it; nothing is changed.
        - An action whose starting point vanished between the plan and the action
          (a resume of a guest that runs by now, a shutdown of one that went off,
          the undefine of one that is gone, a volume another run created just as this
          run would have) is judged by the end state, not reported as an error.
        type: str
        choices:
        - present
        - running
        - stopped
        - paused
        - absent
        - restarted
        - reset
        default: present
      restart:
        description:
        - V(if_needed) restarts a running guest (graceful shutdown, then start) when
          changes take effect only at the next boot. V(never) leaves it running and
          reports RV(kvmfleet.kvm.guest#module:reboot_required).
        type: str
        choices:
        - never
        - if_needed
        default: never
      force:
        description:
        - Allow a forced power-off when a graceful shutdown does not finish within
          O(guests[].shutdown_timeout).
        - Allow O(guests[].state=reset).
        type: bool
        default: false
      recreate:
        description: Allow undefining and defining the guest again for changes that
          cannot be made in place.
        type: bool
        default: false
      remove_volumes:
        description: With O(guests[].state=absent), also delete the volumes the guest
          writes to (and its cloud-init seed). Read-only media are kept.
        type: bool
        default: false
      remove_snapshots:
        description:
        - With O(guests[].state=absent), allow removing a guest that has snapshots
          (M(kvmfleet.kvm.snapshot)), which deletes their metadata. Without it such
          a guest is not removed and the task fails naming this option.
        type: bool
        default: false
      shutdown_timeout:
        description:
        - Seconds to wait for a graceful shutdown.
        - Also the longest wait for a guest in a transient state to settle before
          it is planned (see O(guests[].state)).
        type: int
        default: 120
      return_xml:
        description: Return the guest's persistent XML definition as RV(kvmfleet.kvm.guest#module:xml).
        type: bool
        default: false
      wait:
        description:
        - Wait until the guest has an IP address (and, with O(guests[].wait.ssh=true),
          until an SSH server answers on it), then return its addresses as RV(kvmfleet.kvm.guest#module:addresses)
          and RV(kvmfleet.kvm.guest#module:address). V({}) waits with the defaults.
        - Applies when the guest runs after the task (O(guests[].state=running), or
          a running guest with O(guests[].state=present)); not in check mode. Waiting
          never counts as a change.
        - 'On time-out the task fails; the message lists every source tried and what
          each said, such as C(web1: no address within 300 s (tried lease: no address;
          agent: Guest agent is not responding; arp: no address)).'
        - M(kvmfleet.kvm.guests) waits for all its guests at the same time.
        type: dict
        suboptions:
          sources:
            description:
            - Where to look, in order of preference; any address from any of them
              will do.
            - V(lease) - the DHCP lease of a libvirt network. V(agent) - the QEMU
              guest agent in the guest (needs O(guests[].guest_agent) and the agent
              installed in the guest). V(arp) - the host's ARP table (guests on host
              bridges that have sent traffic).
            type: list
            elements: str
            choices:
            - lease
            - agent
            - arp
            default:
            - lease
            - agent
            - arp
          ssh:
            description: Also wait until an SSH server answers (sends its banner)
              on O(guests[].wait.port) of one of the addresses.
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
        - Where the fleet places the guest - read by the placement of the guests role
          (C(guests_fleet), M(kvmfleet.kvm.placement)) and by M(kvmfleet.kvm.drain).
          This module checks it and otherwise ignores it; it is not part of the guest's
          definition.
        type: dict
        suboptions:
          hypervisor:
            description: The inventory name of the hypervisor the guest must run on.
            type: str
          requires:
            description: Labels its hypervisor must have (see M(kvmfleet.kvm.hypervisor)).
            type: list
            elements: str
"""

    POOLS = r"""
options:
  pools:
    description:
    - The pools. Each item takes every option of M(kvmfleet.kvm.pool) except O(uri),
      as documented there (O(pools[].name) is required; names must be unique).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the pool.
        type: str
        required: true
      type:
        description:
        - Pool type. Required to create a pool; an existing pool may be named alone
          (for example to start, stop or remove it).
        - V(iscsi), V(rbd) and V(zfs) need their libvirt storage backends on the hypervisor
          (C(virsh pool-capabilities)); their storage is not built by the module.
        type: str
        choices:
        - dir
        - fs
        - netfs
        - logical
        - iscsi
        - rbd
        - zfs
      source:
        description: Where the pool's storage comes from. Which keys a type needs
          and takes is checked.
        type: dict
        suboptions:
          devices:
            description:
            - Absolute device paths - the one device of an V(fs) pool (a block device
              or loop device), the physical volumes of a V(logical) pool, the vdevs
              of a V(zfs) pool.
            type: list
            elements: str
          hosts:
            description: Servers as C(name) or C(name:port) - the NFS server, the
              iSCSI portal, the Ceph monitors.
            type: list
            elements: str
          dir:
            description: The exported directory of a V(netfs) pool.
            type: str
          name:
            description: The volume group (V(logical)), Ceph pool (V(rbd)) or ZFS
              pool (V(zfs)).
            type: str
          format:
            description:
            - V(fs) - the filesystem (V(ext4), V(xfs)... or V(auto) to use what the
              device holds); V(netfs) - V(nfs) (default), V(glusterfs), V(cifs), V(auto);
              V(logical) - V(lvm2).
            type: str
          iqn:
            description: The iSCSI target's IQN.
            type: str
          initiator:
            description: The iSCSI initiator IQN to log in as.
            type: str
          auth:
            description: Authentication for V(iscsi) (CHAP) and V(rbd) (cephx); the
              key stays in a libvirt secret.
            type: dict
            suboptions:
              type:
                description: V(chap) for iSCSI, V(ceph) for RBD.
                type: str
                choices:
                - chap
                - ceph
                required: true
              username:
                description: The user name.
                type: str
                required: true
              secret_uuid:
                description: UUID of the libvirt secret that holds the password or
                  key. Not with O(pools[].source.auth.secret_usage).
                type: str
              secret_usage:
                description:
                - The usage id of the libvirt secret that holds the password or key
                  (for V(ceph) its name, for V(chap) its iSCSI target), as M(kvmfleet.kvm.secret)
                  defines it with O(kvmfleet.kvm.secret#module:usage_id).
                - Not with O(pools[].source.auth.secret_uuid).
                type: str
      target:
        description:
        - Absolute path of the pool's directory (V(dir), V(fs) mount point, V(netfs)
          mount point). Required for those types. Default for V(logical) - C(/dev/VG);
          for V(iscsi) - C(/dev/disk/by-path).
        type: str
      target_owner:
        description:
        - Owner of the target directory, a user name or a numeric id. Names are resolved
          on the host that runs the module; give numbers for a remote hypervisor.
          Changed in place.
        type: str
      target_group:
        description: Group of the target directory, a group name or a numeric id.
          Changed in place.
        type: str
      target_mode:
        description: Mode of the target directory, octal as a quoted string such as
          V('0755'). Changed in place.
        type: str
      autostart:
        description: Whether libvirtd starts the pool when it starts. Changed in place.
        type: bool
      state:
        description:
        - V(active) - defined, built and started. V(inactive) - defined and built,
          stopped. V(present) - defined and built; an existing pool is left running
          or stopped as it is. V(absent) - stopped, its directory or volume group
          removed, undefined.
        type: str
        choices:
        - present
        - active
        - inactive
        - absent
        default: active
      build:
        description:
        - Build the pool's storage when it is created or its directory is missing
          - create the directory, format a blank device (V(fs)), create the volume
          group on blank devices (V(logical)). V(false) expects the storage to be
          ready.
        - On a remote hypervisor the devices are not probed and libvirt builds only
          over blank devices, so re-declaring a pool whose filesystem or volume group
          already exists fails with a message saying so; declare such a pool with
          V(false).
        type: bool
        default: true
      overwrite:
        description:
        - Allow formatting a device that already holds a filesystem or other data,
          and making LVM physical volumes of devices that hold something. Destroys
          what is there.
        type: bool
        default: false
      recreate:
        description:
        - Allow changes that libvirt cannot make to an active pool - O(pools[].type),
          O(pools[].source), O(pools[].target) - by stopping the pool, redefining
          it and starting it again. Guests that use its volumes lose access to them
          meanwhile.
        type: bool
        default: false
      remove_volumes:
        description: With O(pools[].state=absent), delete the pool's volumes too;
          without it a pool that holds volumes is not removed.
        type: bool
        default: false
"""
