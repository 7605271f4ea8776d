"""NVIDIA's CUDA toolkit to minimum Linux driver table, as data with where each row was read.

A CUDA runtime (libcudart) asks the kernel driver for at least the driver version its toolkit
release lists; NVIDIA's container hook checks the image's NVIDIA_REQUIRE_CUDA against the
driver's CUDA version before the container starts. Since CUDA 11, a newer toolkit of the same
major release also runs on the family's minimum driver with a limited feature set (minor
version compatibility). drivers.json beside this file holds both tables.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from portwise.versions import version_key

Confidence = Literal["high", "medium", "unconfirmed"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Row(_Frozen):
    cuda: str = Field(pattern=r"^\d+\.\d+$", description="toolkit major.minor")
    min_driver: str = Field(pattern=r"^\d+\.\d+(\.\d+)?$", description="Linux x86_64")
    confidence: Confidence
    source: str = Field(pattern=r"^https://")
    read_at: str = Field(pattern=r"^https://", description="the copy of the table checked")


class Family(_Frozen):
    major: int
    min_driver: str = Field(pattern=r"^\d+(\.\d+)*$")
    source: str = Field(pattern=r"^https://")


class CudaTable(_Frozen):
    about: str = Field(alias="_about", min_length=10)
    rows: tuple[Row, ...] = Field(min_length=1)
    minor_compat: tuple[Family, ...]


@cache
def load() -> CudaTable:
    text = files(__name__).joinpath("drivers.json").read_text(encoding="utf-8")
    table = CudaTable.model_validate_json(text)
    keys = [version_key(r.cuda) for r in table.rows]
    if keys != sorted(keys) or len(set(keys)) != len(keys):
        raise ValueError("cuda/drivers.json: rows must be sorted by CUDA version, no repeats")
    return table


def minimum_driver(cuda: str) -> Row | None:
    """The row for `cuda` (major.minor, or the nearest listed release below it in the same
    major), None when the table has nothing at or below it."""
    wanted = version_key(cuda)[:2]
    best = None
    for row in load().rows:
        key = version_key(row.cuda)
        if key <= wanted and key[0] == wanted[0]:
            best = row
    return best


def family_minimum(major: int) -> Family | None:
    return next((f for f in load().minor_compat if f.major == major), None)


def newest_listed() -> str:
    return load().rows[-1].cuda
