"""Registries and the local podman store, through skopeo: copied into an OCI layout in the cache.

portwise does not speak the registry protocol itself; skopeo (containers/image) already handles
auth, mirrors, signatures and every transport, and users' registries.conf applies unchanged.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from portwise.errors import ImageError, ToolError
from portwise.model.image import Platform

SKOPEO_TIMEOUT = 3600


def skopeo_copy(
    reference: str,
    destination: Path,
    *,
    platform: Platform | None,
    all_platforms: bool,
    tls_verify: bool,
    authfile: Path | None = None,
    creds: str | None = None,
) -> None:
    """Copy `reference` (docker://... or containers-storage:...) to `oci:<destination>:image`.

    Credentials are skopeo's: `authfile` (else REGISTRY_AUTH_FILE, else containers' auth.json,
    which skopeo reads itself) or `creds` (USER[:PASSWORD])."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise ToolError(
            f"reading {reference} needs skopeo, which is not installed",
            hint="apt-get install skopeo",
        )
    args = [skopeo, "copy", "--quiet"]
    if reference.startswith("docker://") and not tls_verify:
        args.append("--src-tls-verify=false")
    if authfile is not None:
        args += ["--authfile", str(authfile)]
    if creds is not None:
        args += ["--src-creds", creds]
    if all_platforms:
        args.append("--all")
    elif platform is not None:
        args += ["--override-os", platform.os, "--override-arch", platform.architecture]
        if platform.variant:
            args += ["--override-variant", platform.variant]
    args += [reference, f"oci:{destination}:image"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=SKOPEO_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ToolError(f"skopeo copy of {reference} timed out") from None
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output"
        raise ImageError(reference, f"skopeo could not read it: {message}")
