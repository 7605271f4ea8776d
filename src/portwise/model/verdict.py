"""Finding and Verdict: what portwise concludes about one image on one host, with evidence."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

VERDICT_SCHEMA_VERSION = "1.0"

Severity = Literal["fail", "risk", "info"]
Status = Literal["PASS", "RISK", "FAIL"]
STATUS_ORDER: tuple[Status, ...] = ("PASS", "RISK", "FAIL")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Evidence(Frozen):
    """The facts on each side that the finding rests on, as a reader would check them."""

    image: list[str] = Field(default_factory=list, description="binary, library, package, label")
    host: list[str] = Field(default_factory=list, description="host fact and where it was read")


class Finding(Frozen):
    id: str = Field(description="mechanism.case, stable across releases (e.g. seccomp.eperm)")
    mechanism: str
    severity: Severity
    title: str = Field(description="one line: what goes wrong")
    explanation: str = Field(description="why, for a platform engineer")
    evidence: Evidence = Field(default_factory=Evidence)
    mitigations_host: list[str] = Field(default_factory=list)
    mitigations_image: list[str] = Field(default_factory=list)
    unknown: list[str] = Field(
        default_factory=list, description="facts portwise could not learn that this depends on"
    )
    incidents: list[str] = Field(default_factory=list, description="documented incident ids")
    references: list[str] = Field(default_factory=list, description="URLs and issue threads")
    subject: str | None = Field(
        None,
        description="what fails, for comparing with a real run: a syscall name, or 'process' "
        "when every program of the image fails to start",
    )


class Verdict(Frozen):
    image: str
    platform: str
    host: str
    status: Status
    findings: list[Finding] = Field(default_factory=list)
    mechanisms: list[str] = Field(description="the mechanisms that judged this pair")


class CheckReport(Frozen):
    schema_version: str = VERDICT_SCHEMA_VERSION
    portwise_version: str
    knowledge: dict[str, str] = Field(description="version of each knowledge data set used")
    verdicts: list[Verdict]


def status_of(findings: list[Finding] | tuple[Finding, ...]) -> Status:
    """FAIL if anything fails, RISK if anything is at risk or unknown, else PASS."""
    if any(f.severity == "fail" for f in findings):
        return "FAIL"
    if any(f.severity == "risk" for f in findings):
        return "RISK"
    return "PASS"
