"""What a suite run found: one result per run, each judged against what the suite expected."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from portwise.model.observation import Agreement, RunReport

Verified = Literal["yes", "no", "not verified", ""]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunResult(Frozen):
    name: str
    kind: Literal["case", "mitigation"]
    case: str = Field(description="the case this run belongs to")
    image: str
    host: str
    expected: str = Field(description="what the suite expected, e.g. 'fail; threads fail'")
    observed: str = Field(description="pass | fail, with the probes the suite named")
    agreement: Agreement = Field(description="the run against portwise check's verdict")
    known_failures: list[str] = Field(default_factory=list)
    mitigates: str | None = Field(None, description="for a mitigation run: the known failure")
    mitigation_verified: Verified = ""
    ok: bool = Field(description="every outcome as expected")
    problems: list[str] = Field(default_factory=list, description="what was not as expected")
    report: RunReport


class SuiteReport(Frozen):
    suite: str
    path: str
    engine: str
    results: list[RunResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)
