"""dpkg and apk database parsers on miniature databases, including broken entries."""

from __future__ import annotations

from portwise.image.packages import PackageRecord
from portwise.image.packages.apk import parse_installed
from portwise.image.packages.dpkg import parse_status

STATUS = b"""Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library
 continuation line

Package: removed-thing
Status: purge ok not-installed
Architecture: amd64

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1

this line is garbage
Package: half-configured
Status: install ok half-configured
Version: 1.0
Architecture: all

Status: install ok installed
Version: 3
"""


def test_dpkg_status() -> None:
    result = parse_status(STATUS)
    assert result.packages == [
        PackageRecord("libc6", "2.36-9+deb12u4", "amd64", "glibc", "2.36-9+deb12u4"),
        PackageRecord("zlib1g", "1:1.2.13.dfsg-1", "amd64", "zlib", "1:1.2.13.dfsg-1"),
        PackageRecord("half-configured", "1.0", "all", None, None),
    ]
    assert any("malformed line 'this line is garbage'" in p for p in result.problems)
    assert any("without a Package field" in p for p in result.problems)


APK = b"""C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
o:musl
t:1695822093

P:busybox
V:1.36.1-r5
A:x86_64
o:busybox
t:1697035440
broken

P:no-version
"""


def test_apk_installed() -> None:
    result = parse_installed(APK)
    assert result.packages == [
        PackageRecord("musl", "1.2.4-r2", "x86_64", "musl", "1.2.4-r2", None, 1695822093),
        PackageRecord("busybox", "1.36.1-r5", "x86_64", "busybox", "1.36.1-r5", None, 1697035440),
    ]
    assert len(result.problems) == 2
