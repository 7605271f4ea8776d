"""Short image names resolved as docker and podman resolve them.

`alpine` is `docker.io/library/alpine:latest`, `bitnami/redis:7` is
`docker.io/bitnami/redis:7`, `quay.io/podman/stable` is `quay.io/podman/stable:latest`
(distribution/reference's normalisation). A reference with a transport, or that names an
existing path or looks like one, is left alone: the sources read it.
"""

from __future__ import annotations

import re
from pathlib import Path

TRANSPORTS = ("oci:", "oci-archive:", "docker-archive:", "rootfs:", "containers-storage:")
DEFAULT_DOMAIN = "docker.io"
OFFICIAL = "library"
PATHLIKE = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".json")

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN}(?::[0-9]+)?)/)?"
    rf"(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)


def docker_name(name: str) -> str | None:
    """The fully qualified form of a docker-style name, or None when `name` is not one."""
    match = _REFERENCE.match(name)
    if match is None:
        return None
    domain, path = match.group("domain"), match.group("path")
    # the first component is a registry only when it looks like a host (docker's rule)
    if domain is not None and not ("." in domain or ":" in domain or domain == "localhost"):
        path, domain = f"{domain}/{path}", None
    domain = domain or DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"{OFFICIAL}/{path}"
    tag, digest = match.group("tag"), match.group("digest")
    suffix = (f":{tag}" if tag else "" if digest else ":latest") + (f"@{digest}" if digest else "")
    return f"{domain}/{path}{suffix}"


def resolve(reference: str) -> str:
    """`reference` as the sources expect it: a short registry name becomes docker://..."""
    if reference.startswith(("docker://", *TRANSPORTS)):
        return reference
    if reference.startswith(("/", ".", "~")) or reference.endswith(PATHLIKE):
        return reference
    if Path(reference).exists():
        return reference
    full = docker_name(reference)
    return f"docker://{full}" if full else reference
