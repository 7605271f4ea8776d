"""SARIF 2.1.0 for code-scanning dashboards: one result per finding, one rule per finding id.

An image on a host has no file and line, so each result points at a logical location named
``image@host``; everything a reader needs to act (evidence on both sides, mitigations, unknown
facts, incidents) travels in the result's property bag. The output holds no time stamps or
paths of this machine, so the same report always gives the same document.
"""

from __future__ import annotations

import hashlib
from typing import Any

from portwise.model.verdict import CheckReport, Finding, Verdict

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
LEVEL = {"fail": "error", "risk": "warning", "info": "note"}
LEVEL_RANK = {"error": 0, "warning": 1, "note": 2}


def _is_url(text: str) -> bool:
    return text.startswith(("https://", "http://"))


def _bullets(title: str, items: list[str]) -> str:
    return f"{title}:\n" + "\n".join(f"- {item}" for item in items) if items else ""


def _rule(rule_id: str, findings: list[Finding]) -> dict[str, Any]:
    """One rule from every finding with this id; when titles differ per pair the rule says so."""
    first = findings[0]
    titles = {f.title for f in findings}
    short = first.title if len(titles) == 1 else f"{rule_id}: each result names its case"
    mitigations_host = list(dict.fromkeys(m for f in findings for m in f.mitigations_host))
    mitigations_image = list(dict.fromkeys(m for f in findings for m in f.mitigations_image))
    help_text = "\n\n".join(
        part
        for part in (
            first.explanation,
            _bullets("On the host", mitigations_host),
            _bullets("In the image", mitigations_image),
        )
        if part
    )
    level = min((LEVEL[f.severity] for f in findings), key=LEVEL_RANK.__getitem__)
    rule: dict[str, Any] = {
        "id": rule_id,
        "name": rule_id,
        "shortDescription": {"text": short},
        "fullDescription": {"text": first.explanation},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": level},
        "properties": {
            "mechanism": first.mechanism,
            "incidents": sorted({i for f in findings for i in f.incidents}),
            "tags": ["portwise", first.mechanism],
        },
    }
    urls = [r for f in findings for r in f.references if _is_url(r)]
    if urls:
        rule["helpUri"] = urls[0]
    return rule


def _fingerprint(verdict: Verdict, finding: Finding) -> str:
    """Stable across runs so dashboards track one problem of one pair over time.

    The title is part of the key: one id may hold several cases on one pair (two syscalls
    refused with EPERM), and the title is what names the case.
    """
    key = "\0".join((finding.id, finding.title, verdict.image, verdict.platform, verdict.host))
    return hashlib.sha256(key.encode()).hexdigest()


def _result(verdict: Verdict, finding: Finding, rule_index: int) -> dict[str, Any]:
    pair = f"{verdict.image}@{verdict.host}"
    return {
        "ruleId": finding.id,
        "ruleIndex": rule_index,
        "level": LEVEL[finding.severity],
        "kind": "fail",
        "message": {
            "text": f"{verdict.image} ({verdict.platform}) on {verdict.host}: {finding.title}. "
            f"{finding.explanation}"
        },
        "locations": [
            {
                "logicalLocations": [
                    {"name": verdict.image, "fullyQualifiedName": pair, "kind": "resource"}
                ]
            }
        ],
        "partialFingerprints": {"portwisePair/v1": _fingerprint(verdict, finding)},
        "properties": {
            "image": verdict.image,
            "platform": verdict.platform,
            "host": verdict.host,
            "status": verdict.status,
            "severity": finding.severity,
            "mechanism": finding.mechanism,
            "evidence": {"image": finding.evidence.image, "host": finding.evidence.host},
            "mitigations": {"host": finding.mitigations_host, "image": finding.mitigations_image},
            "unknown": finding.unknown,
            "incidents": finding.incidents,
            "references": finding.references,
        },
    }


def to_sarif(report: CheckReport) -> dict[str, Any]:
    """A SARIF log with one run; PASS pairs give no result but are listed in the run's properties.

    Info findings of a PASS pair are left out too: a code-scanning alert on a passing pair
    would only be noise. Every pair's status is in ``runs[0].properties.verdicts``.
    """
    by_id: dict[str, list[Finding]] = {}
    reported = [(v, f) for v in report.verdicts if v.status != "PASS" for f in v.findings]
    for _, finding in reported:
        by_id.setdefault(finding.id, []).append(finding)
    rule_ids = sorted(by_id)
    index = {rule_id: n for n, rule_id in enumerate(rule_ids)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "portwise",
                        "version": report.portwise_version,
                        "rules": [_rule(rule_id, by_id[rule_id]) for rule_id in rule_ids],
                    }
                },
                "results": [_result(v, f, index[f.id]) for v, f in reported],
                "properties": {
                    "schema_version": report.schema_version,
                    "knowledge": dict(sorted(report.knowledge.items())),
                    "verdicts": [
                        {
                            "image": v.image,
                            "platform": v.platform,
                            "host": v.host,
                            "status": v.status,
                        }
                        for v in report.verdicts
                    ],
                },
            }
        ],
    }
