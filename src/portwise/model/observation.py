"""What happened when an image really ran under a host's constraints, beside what was predicted."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from portwise.model.verdict import Status

# 1.1: status NOT RUN, not_run_why. 2.0: status DISAGREE (the observed outcome moves to
# `outcome`), not_run_hint, host_changes
RUN_SCHEMA_VERSION = "2.0"
Outcome = Literal["pass", "fail", "timeout", "skipped"]
Agreement = Literal["agree", "disagree", "inconclusive"]
Observed = Literal["PASS", "FAIL", "NOT RUN"]
RunStatus = Literal["PASS", "FAIL", "NOT RUN", "DISAGREE"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProbeResult(Frozen):
    name: str
    command: list[str]
    outcome: Outcome
    exit_code: int | None = None
    seconds: float = 0.0
    stdout: str = Field("", description="the last 2000 characters")
    stderr: str = Field("", description="the last 2000 characters")
    why: str | None = Field(None, description="why it was skipped, or how it failed")
    exercises: list[str] = Field(default_factory=list, description="syscalls the probe relies on")
    predicted: Literal["pass", "fail", "risk"] = "pass"
    agreement: Agreement = "agree"
    failed_syscalls: list[str] = Field(
        default_factory=list, description="with --trace: calls that returned an error, and errno"
    )


class RunReport(Frozen):
    schema_version: str = RUN_SCHEMA_VERSION
    image: str
    platform: str
    host: str
    engine: str = Field(description="runc | crun (bundle fast path) | podman")
    emulated: list[str]
    not_emulated: list[str] = Field(description="host facts this run could not impose")
    probes: list[ProbeResult]
    status: RunStatus = Field(
        description="DISAGREE when the run disagrees with portwise check (whatever it observed:"
        " see outcome); otherwise the outcome"
    )
    outcome: Observed = Field(
        description="what the probes showed: FAIL when a probe failed; PASS when none failed and"
        " at least one ran; NOT RUN when no probe ran to an outcome (skipped, timed out, or"
        " failing without the host's constraints too, e.g. exec format error)"
    )
    not_run_why: str | None = Field(None, description="why nothing ran, when NOT RUN")
    not_run_hint: str | None = Field(
        None, description="what would make it run here (a command), when portwise knows"
    )
    host_changes: list[str] = Field(
        default_factory=list,
        description="what portwise changed on this machine to run the image (a binfmt_misc"
        " handler it registered), and how to undo it",
    )
    predicted: Status = Field(description="portwise check's verdict for the same pair")
    agreement: Agreement
    disagreements: list[str] = Field(default_factory=list)
