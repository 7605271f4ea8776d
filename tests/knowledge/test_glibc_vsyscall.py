"""The glibc vsyscall boundaries: loaded, validated, and read the way the rule reads them."""

from __future__ import annotations

from portwise.knowledge.glibc_vsyscall import calls_vsyscall, load


def test_boundaries_cite_glibc_commits() -> None:
    data = load()
    assert (data.dynamic.first_without, data.static.first_without) == ("2.14", "2.15")
    for boundary in (data.dynamic, data.static, data.removed_entirely):
        assert boundary.source.startswith("https://sourceware.org/git/?p=glibc.git;a=commit;h=")


def test_centos6_glibc_calls_the_page_and_centos7_does_not() -> None:
    assert calls_vsyscall("2.12")
    assert calls_vsyscall("2.13")
    assert not calls_vsyscall("2.14")
    assert not calls_vsyscall("2.17")
    assert not calls_vsyscall("2.41")


def test_static_programs_need_one_release_more() -> None:
    assert calls_vsyscall("2.14", static=True)
    assert not calls_vsyscall("2.15", static=True)
