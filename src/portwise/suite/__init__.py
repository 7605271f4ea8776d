"""Suites: the test-and-mitigate journal, kept as YAML and run on a real engine.

A suite file names images, hosts (with overridden facts), cases that pair them with probes and
expected outcomes, and known failures with their references and mitigations. `load.py` reads
and validates it (every error names its file and line), `overrides.py` is the small vocabulary
that changes host facts, `run.py` runs the cases and checks each outcome against what was
expected, and `results.py` holds what the reports render.
"""
