"""Exit codes: one scheme for every command, so a CI script tells a verdict from a failure.

Below 64, the answer to the question asked (check, test, suite); from 64 up, portwise could
not answer (sysexits.h numbers), with a message on stderr and nothing on stdout.
"""

from __future__ import annotations

PASS = 0  # check: every pair passes; test: every probe that ran passed; suite: all as expected
RISK = 1  # check --fail-on risk: a pair is at risk (an unknown fact, a possible failure)
FAIL = 2  # check: a pair fails; test: a probe failed, as predicted; suite: a run not as expected
NOT_RUN = 3  # test: no probe ran to an outcome (the reason and a fix are printed)
DISAGREE = 5  # test or suite: a real run contradicts portwise check (a bug in the model)
USAGE = 64  # EX_USAGE: the command line is wrong (unknown option, host name, format, value)
DATA = 65  # EX_DATAERR: an input is missing, broken or hostile (image, profile, host or suite file)
TOOL = 69  # EX_UNAVAILABLE: a tool portwise needs (skopeo, runc, umoci...) is missing or failed
INTERNAL = 70  # EX_SOFTWARE: a bug in portwise (the traceback is printed)
INTERRUPTED = 130  # SIGINT, as shells report it

# the same table in every --help and in the README (tests compare them)
HELP = (
    "Exit codes: 0 PASS; 1 RISK (with --fail-on risk); 2 FAIL; 3 NOT RUN (test);"
    " 5 DISAGREE (a run contradicts check); 64 usage error; 65 missing, broken or hostile"
    " input (image, profile, host or suite file); 69 a required tool is missing or failed;"
    " 70 internal error."
)
