"""One error type for what the user can cause; the CLI turns it into a message and exit code."""

from __future__ import annotations

from portwise import exits


class PortwiseError(Exception):
    """A failure caused by input or environment, reported without a traceback."""

    exit_code = exits.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(PortwiseError):
    """The command line named something that does not exist or cannot be used."""


class InputError(PortwiseError):
    """An input document (a saved profile, a host file, a suite) is missing or not valid."""

    exit_code = exits.DATA


class ImageError(InputError):
    """An image is missing, broken or hostile; names the image, and the layer and member when
    known."""

    def __init__(
        self,
        image: str,
        problem: str,
        *,
        layer: str | None = None,
        member: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = [f"image {image}"]
        if layer is not None:
            where.append(f"layer {layer}")
        if member is not None:
            where.append(f"member {member!r}")
        super().__init__(f"{', '.join(where)}: {problem}", hint=hint)
        self.image = image
        self.layer = layer
        self.member = member
        self.problem = problem


class ToolError(PortwiseError):
    """An external tool portwise relies on (skopeo, ...) is missing or failed."""

    exit_code = exits.TOOL
