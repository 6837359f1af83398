# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ground layer: cloud-init NoCloud seed content and the ISO image that carries it (volume label cidata)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from typing import Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError

ISO_TOOLS = ("genisoimage", "mkisofs", "xorrisofs")


def seed_files(
    name: str, user_data: Optional[str], meta_data: Optional[str], network_config: Optional[str]
) -> dict[str, bytes]:
    """The files of a NoCloud seed; meta-data defaults to the guest's name as instance-id and host name."""
    files = {
        "user-data": (user_data if user_data is not None else "#cloud-config\n{}\n").encode(),
        "meta-data": (
            meta_data if meta_data is not None else f"instance-id: {name}\nlocal-hostname: {name}\n"
        ).encode(),
    }
    if network_config is not None:
        files["network-config"] = network_config.encode()
    return files


def seed_hash(files: dict[str, bytes]) -> str:
    """A digest of the seed content; stored in the guest's metadata so the ISO is rebuilt only on change."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    return digest.hexdigest()[:32]


def build_iso(files: dict[str, bytes]) -> bytes:
    """An ISO 9660 image (Joliet + Rock Ridge, label cidata) holding ``files``."""
    tool = next((shutil.which(name) for name in ISO_TOOLS if shutil.which(name)), None)
    if tool is None:
        raise KvmFleetError(
            "building a cloud-init seed ISO needs genisoimage, mkisofs or xorrisofs on the host that runs the "
            "module: install genisoimage (Debian/Ubuntu) or xorriso (Fedora/RHEL)"
        )
    with tempfile.TemporaryDirectory(prefix="kvmfleet-seed-") as tmp:
        content = os.path.join(tmp, "content")
        os.mkdir(content)
        for name, data in files.items():
            with open(os.path.join(content, name), "wb") as handle:
                handle.write(data)
        image = os.path.join(tmp, "seed.iso")
        proc = subprocess.run(
            [tool, "-quiet", "-output", image, "-volid", "cidata", "-joliet", "-rock", content],
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise KvmFleetError(
                f"{os.path.basename(tool)} failed to build the seed ISO: {proc.stderr.decode(errors='replace').strip()}"
            )
        with open(image, "rb") as handle:
            return handle.read()
