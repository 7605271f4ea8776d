"""Text from an image is data, never markup or terminal control.

A real image whose os-release, package database, file names and config carry a clear-screen
sequence, an OSC 8 hyperlink, rich markup (`[/v]` crashed the table once, `[bold]`) and an emoji
code (`:x:`): `portwise scan` and `portwise check` write to a real terminal (a pty) and nothing
of it reaches the terminal raw: the escapes are shown as text, the markup and emoji codes
literally.
"""

from __future__ import annotations

import re
from pathlib import Path

import ptykit
import pytest
from cprograms import compile_c
from imagekit import OciLayout, file, layer_tar, symlink

from portwise.report.outside import clean, data, line

CLEAR = "\x1b[2J"
LINK = "\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\"
BIDI = "\u202e"  # right-to-left override: reorders what the reader sees
NASTY = f"{CLEAR}{LINK}[/v][bold]:x:{BIDI}"
# what rich itself may draw on a terminal: colours (SGR) and, on stderr, a transient progress
# display (hide/show the cursor, erase the line, move up)
ALLOWED = re.compile(rb"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[2K|\x1b\[1A|\x1b\[\d*G|\r")


def test_clean_shows_every_control_character() -> None:
    assert clean(NASTY) == (
        "\\x1b[2J\\x1b]8;;https://evil.example/\\x1b\\click me\\x1b]8;;\\x1b\\[/v][bold]:x:\\u202e"
    )
    assert clean("a\nb") == "a\\nb" and clean("a\nb", newlines=True) == "a\nb"
    assert clean("tab\there \x7f \x9b") == "tab\\x09here \\x7f \\x9b"
    assert data("[bold]x[/bold]").plain == "[bold]x[/bold]"  # a Text: never read as markup
    assert line(("[/v]", "bold"), " :x:").plain == "[/v] :x:"


# a static program that issues clone3 itself: Docker 20.10.9's profile answers EPERM, so
# `check` cites this binary, by its hostile name, as the image-side evidence
CLONE3 = """
#include <sys/syscall.h>
#include <unistd.h>
int main(void) { return syscall(435, 0, 0) < 0 ? 0 : 1; }
"""


def hostile_image(root: Path) -> str:
    program = compile_c(root.parent, "clone3", CLONE3, "-static").read_bytes()
    status = (
        "Package: evil\nStatus: install ok installed\nArchitecture: amd64\n"
        f"Version: 1.0{CLEAR}[/v]:x:\nDescription: {NASTY}\n more {LINK}\n\n"
    )
    layout = OciLayout(root)
    layout.add_image(
        [
            layer_tar(
                [
                    file(
                        "usr/lib/os-release",
                        f'ID=evil\nVERSION_ID="1"\nPRETTY_NAME="{NASTY}"\nNAME="{NASTY}"\n',
                    ),
                    symlink("etc/os-release", "../usr/lib/os-release"),
                    file("var/lib/dpkg/status", status),
                    file(f"usr/bin/{CLEAR}evil[bold]:x:", program, mode=0o755),
                ]
            )
        ],
        config_extra={
            "config": {"Cmd": [f"/usr/bin/{NASTY}"], "User": f"[/v]{CLEAR}"},
            "history": [{"created_by": f"RUN {NASTY}"}],
        },
    )
    return f"oci:{root}"


def on_a_terminal(*args: str) -> tuple[int, bytes]:
    """Run portwise with stdout and stderr on a pty, as a user's terminal; all it drew."""
    code, _, drawn = ptykit.on_a_terminal(list(args))
    return code, drawn


@pytest.mark.parametrize("command", ["scan", "check", "check-json-file"])
def test_nothing_from_the_image_reaches_the_terminal_raw(tmp_path: Path, command: str) -> None:
    image = hostile_image(tmp_path / f"img{CLEAR}[bold]")
    cache = str(tmp_path / "cache")
    if command == "scan":
        code, drawn = on_a_terminal("scan", image, "--show-files", "--cache-dir", cache)
        assert code == 0, drawn
    elif command == "check":
        code, drawn = on_a_terminal(
            "check", image, "--host", "ubuntu-20.04-docker-20.10.9", "--cache-dir", cache
        )
        assert code in (0, 1, 2), drawn
    else:  # the table written to a file is the same text, and the report to the terminal
        out = tmp_path / "report.txt"
        code, drawn = on_a_terminal(
            "check",
            image,
            "--host",
            "ubuntu-20.04-docker-20.10.9",
            "--cache-dir",
            cache,
            "-o",
            str(out),
        )
        assert code in (0, 1, 2), drawn
        drawn += out.read_bytes()
    assert b"Traceback" not in drawn
    assert CLEAR.encode() not in drawn and b"\x1b]" not in drawn and BIDI.encode() not in drawn
    leftover = ALLOWED.sub(b"", drawn)
    assert b"\x1b" not in leftover, leftover[max(0, leftover.find(b"\x1b") - 80) :][:200]
    text = re.sub(r"\s+", "", ALLOWED.sub(b"", drawn).decode())  # tables fold long lines
    assert "\u274c" not in text  # :x: was not turned into an emoji
    # the image's reference, and a file name from inside it, shown escaped and literally
    assert "img\\x1b[2J[bold]" in text
    assert "/usr/bin/\\x1b[2Jevil[bold]:x:" in text
    if command == "scan":
        assert re.sub(r"\s+", "", f"{clean(NASTY)} (/usr/lib/os-release)") in text
        assert "[/v]\\x1b[2J" in text  # the config's user
