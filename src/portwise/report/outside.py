"""Text from outside is data: never markup, never an emoji code, never a terminal control.

An image's os-release, package fields, file names and history, a host file, a container's
stderr, an image reference typed by the user: any of them may hold ``[bold]``, ``[/v]`` (which
crashes rich's markup parser), ``:x:`` (an emoji code) or raw escape sequences (clear the
screen, an OSC 8 hyperlink, a bidirectional override that reorders what is shown). Every
renderer prints such text through this module: `clean` makes control characters visible as
``\\x1b``-style escapes, and `data` / `line` return rich ``Text``, which rich never reads as
markup or emoji codes.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 (but newline, handled apart), DEL, C1, and the format characters that reorder or hide
# text on a terminal (bidirectional overrides and isolates, line and paragraph separators).
_CONTROL = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NEWLINE = re.compile("\n")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, *, newlines: bool = False) -> str:
    """`value` as text with every control character shown as an escape (``\\x1b``, ``\\u202e``);
    newlines are kept only when asked for (multi-line output such as a probe's stderr)."""
    text = _CONTROL.sub(_visible, str(value))
    return text if newlines else _NEWLINE.sub("\\\\n", text)


def data(value: object, style: str = "", *, newlines: bool = False) -> Text:
    """`value` as one cell or span of output: cleaned, never read as markup or emoji."""
    return Text(clean(value, newlines=newlines), style=style)


def line(*parts: object | tuple[object, str]) -> Text:
    """Pieces, each plain or a (piece, style) pair, joined into one Text; every piece is
    cleaned, so labels and values from outside can be mixed freely."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            value, style = part
            text.append(clean(value), style=style)
        else:
            text.append(clean(part))
    return text
