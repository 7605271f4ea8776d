"""A Kubernetes node: whether the kubelet gives pods the runtime's default seccomp profile.

Kubernetes runs a pod Unconfined unless the pod names a seccompProfile or the kubelet's
seccompDefault is on (KEP-2413, GA in 1.27, off unless configured). So on a node the engine's
profile is only what pods get when they ask for RuntimeDefault; the kubelet's setting decides
what every other pod gets.
"""

from __future__ import annotations

import re

from portwise.host.files import HostFiles, Unreadable
from portwise.host.setups import setup
from portwise.knowledge.seccomp import for_engine
from portwise.model.host import EngineFacts, EngineSetup, Fact, Tool

CONFIGS = ("/var/lib/kubelet/config.yaml", "/etc/kubernetes/kubelet/config.yaml")
DOCS = "https://kubernetes.io/docs/tutorials/security/seccomp/#enable-the-use-of-runtimedefault-as-the-default-seccomp-profile-for-all-workloads"
UNCONFINED = "unconfined"


def seccomp_default(files: HostFiles) -> Fact[bool]:
    """The kubelet configuration's seccompDefault (false when the file does not set it)."""
    for path in CONFIGS:
        try:
            text = files.read_text(path)
        except Unreadable:
            continue
        match = re.search(r"^seccompDefault:\s*(true|false)\s*$", text, re.M | re.I)
        if match:
            return Fact.of(match.group(1).lower() == "true", f"{path} seccompDefault")
        return Fact.of(False, f"{path} does not set seccompDefault (the kubelet's default: {DOCS})")
    return Fact.missing("no kubelet configuration file (not a Kubernetes node, or elsewhere)")


def kubelet_setup(
    on: Fact[bool], containerd: Tool, runtime: Fact[str], version: Fact[str], base: EngineFacts
) -> EngineSetup:
    """Pods on this node through containerd's CRI: Unconfined unless seccompDefault is on."""
    profile_name = for_engine("containerd", containerd.version.value or "")
    asked: Fact[str] = (
        Fact.of(profile_name, f"containerd {containerd.version.value}'s CRI RuntimeDefault")
        if profile_name
        else Fact.missing(f"no CRI default profile recorded for containerd {containerd.version}")
    )
    unasked: Fact[str] = (
        asked if on.value else Fact.of(UNCONFINED, f"kubelet seccompDefault off ({on.source})")
    )
    return setup("kubelet", containerd.version, runtime, version, unasked, base, asked=asked)
