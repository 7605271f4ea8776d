"""`portwise explain ID`: a mechanism's documentation, or a documented incident, as text; with
an image, every way that image reaches one system call."""

from __future__ import annotations

from rich.console import Console

from portwise.errors import UsageError
from portwise.knowledge import incidents
from portwise.model.image import ImageProfile
from portwise.report.outside import data, line
from portwise.rules import MECHANISMS
from portwise.rules.fallback import describe, uses


def render_explain(console: Console, topic: str) -> None:
    """Accepts a mechanism id (seccomp), a finding id (seccomp.eperm-no-fallback) or an incident."""
    known = incidents.load()
    if topic in known:
        i = known[topic]
        console.print(line((i.id, "bold"), ": ", i.title))
        for label, text in (("image", i.image), ("host", i.host), ("cause", i.cause)):
            console.print(line((f"{label}:", "bold"), " ", text))
        for symptom in i.symptoms:
            console.print(line(("symptom:", "bold"), " ", symptom))
        for label, items in (("host fix", i.mitigations_host), ("image fix", i.mitigations_image)):
            for item in items:
                console.print(line((f"{label}:", "bold"), " ", item))
        for fix in i.fixed_in:
            console.print(
                line(("fixed in:", "bold"), f" {fix.what} ({fix.confidence}; {fix.source})")
            )
        console.print(line(("caught by:", "bold"), f" mechanism {i.mechanism}"))
        for url in i.sources:
            console.print(line(("source:", "bold"), " ", url))
        return
    mechanism_id = topic.split(".", 1)[0]
    for m in MECHANISMS:
        if m.id == mechanism_id:
            console.print(line((m.id, "bold"), ": ", m.title))
            console.print()
            console.print(data(m.doc.strip(), newlines=True))
            cited = [i.id for i in known.values() if i.mechanism == m.id]
            if cited:
                console.print()
                console.print(line(("incidents:", "bold"), " ", ", ".join(cited)))
            for url in m.references:
                console.print(line(("reference:", "bold"), " ", url))
            return
    raise UsageError(
        f"nothing is called {topic!r}",
        hint="mechanisms: "
        + ", ".join(m.id for m in MECHANISMS)
        + "; incidents: "
        + ", ".join(known),
    )


def render_syscall_uses(console: Console, image: ImageProfile, syscall: str) -> None:
    """Each use of `syscall`: path, binaries, issuing points and the caller's reaction."""
    found = [u for u in uses(image) if u.syscall == syscall]
    if not found:
        summary = image.binary_summary
        console.print(
            line(
                f"{image.reference} reaches {syscall} by no path portwise saw"
                f" ({summary.unresolved_syscall_sites} issuing points whose number is unknown:"
                f" {', '.join(summary.unresolved_syscall_binaries) or 'none'})"
            )
        )
        return
    console.print(line((syscall, "bold"), f" in {image.reference}: {len(found)} paths"))
    need = next(n for n in image.binary_summary.syscalls if n.name == syscall)
    for use, source in zip(found, need.sources, strict=True):
        console.print(line("- ", (use.path, "bold"), ": ", describe(use)))
        for site in source.sites:
            console.print(line(f"    site: {site}"))
        for binary in source.examples[1:]:
            console.print(line(f"    also in: {binary}"))
        if source.source:
            console.print(line(f"    source: {source.source}"))
