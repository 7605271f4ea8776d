"""`portwise explain ID`: a mechanism's documentation, or a documented incident, as text; with
an image, every way that image reaches one system call."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from portwise.errors import UsageError
from portwise.knowledge import incidents
from portwise.model.image import ImageProfile
from portwise.rules import MECHANISMS
from portwise.rules.fallback import describe, uses


def render_explain(console: Console, topic: str) -> None:
    """Accepts a mechanism id (seccomp), a finding id (seccomp.eperm-no-fallback) or an incident."""
    known = incidents.load()
    if topic in known:
        i = known[topic]
        console.print(f"[bold]{escape(i.id)}[/]: {escape(i.title)}", highlight=False)
        for label, text in (("image", i.image), ("host", i.host), ("cause", i.cause)):
            console.print(f"[bold]{label}:[/] {escape(text)}", highlight=False)
        for symptom in i.symptoms:
            console.print(f"[bold]symptom:[/] {escape(symptom)}", highlight=False)
        for label, items in (("host fix", i.mitigations_host), ("image fix", i.mitigations_image)):
            for item in items:
                console.print(f"[bold]{label}:[/] {escape(item)}", highlight=False)
        for fix in i.fixed_in:
            console.print(
                f"[bold]fixed in:[/] {escape(fix.what)} ({fix.confidence}; {escape(fix.source)})",
                highlight=False,
            )
        console.print(f"[bold]caught by:[/] mechanism {i.mechanism}", highlight=False)
        for url in i.sources:
            console.print(f"[bold]source:[/] {escape(url)}", highlight=False)
        return
    mechanism_id = topic.split(".", 1)[0]
    for m in MECHANISMS:
        if m.id == mechanism_id:
            console.print(f"[bold]{m.id}[/]: {escape(m.title)}\n", highlight=False)
            console.print(escape(m.doc.strip()), highlight=False)
            cited = [i.id for i in known.values() if i.mechanism == m.id]
            if cited:
                console.print(f"\n[bold]incidents:[/] {', '.join(cited)}", highlight=False)
            for url in m.references:
                console.print(f"[bold]reference:[/] {escape(url)}", highlight=False)
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
    name = escape(image.reference)
    if not found:
        summary = image.binary_summary
        console.print(
            f"{name} reaches {escape(syscall)} by no path portwise saw"
            f" ({summary.unresolved_syscall_sites} issuing points whose number is unknown:"
            f" {escape(', '.join(summary.unresolved_syscall_binaries) or 'none')})",
            highlight=False,
        )
        return
    console.print(f"[bold]{escape(syscall)}[/] in {name}: {len(found)} paths", highlight=False)
    need = next(n for n in image.binary_summary.syscalls if n.name == syscall)
    for use, source in zip(found, need.sources, strict=True):
        console.print(f"- [bold]{escape(use.path)}[/]: {escape(describe(use))}", highlight=False)
        for site in source.sites:
            console.print(f"    site: {escape(site)}", highlight=False)
        for binary in source.examples[1:]:
            console.print(f"    also in: {escape(binary)}", highlight=False)
        if source.source:
            console.print(f"    source: {escape(source.source)}", highlight=False)
