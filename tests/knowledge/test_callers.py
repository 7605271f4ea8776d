"""The caller model: its data validates, every fact has a source, and version ranges pick the
reaction the sources describe (a Go 1.22 binary never opens a pidfd, a Go 1.23 one falls back
when pidfd_open is denied; crypto/rand crashes on EPERM from Go 1.24 on)."""

from __future__ import annotations

import json
from importlib.resources import files

import pydantic
import pytest

from portwise.knowledge import callers
from portwise.knowledge.callers import (
    ON_FAILURE_CLASSES,
    CallerReaction,
    CallersModel,
    components,
    load_model,
    model_version,
    parse_version,
    reactions,
    syscalls_of,
)
from portwise.knowledge.syscalls import number

REQUIRED = {"go", "openjdk", "cpython", "rust-std", "glib", "libuv", "openssl"}
# the calls real historical seccomp profiles deny that the brief asks the model to cover
DENIED_HISTORICALLY = {"statx", "copy_file_range", "pidfd_open", "getrandom", "close_range"}


def raw() -> dict[str, object]:
    data = json.loads(files(callers).joinpath("callers.json").read_text())
    assert isinstance(data, dict)
    return data


def only(found: tuple[CallerReaction, ...]) -> CallerReaction:
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------------------ the data


def test_data_validates_and_every_entry_has_a_source() -> None:
    model = load_model()
    assert set(components()) >= REQUIRED
    for entry in model.entries:
        assert entry.source.url.startswith("https://"), entry.id
        assert len(entry.source.quote) >= 10, entry.id
        assert entry.on_failure in ON_FAILURE_CLASSES
        assert entry.verified
    assert model_version().startswith(model.model_version + "+")


def test_every_component_has_entries_and_the_denied_calls_are_covered() -> None:
    covered: set[str] = set()
    for component in REQUIRED:
        names = syscalls_of(component)
        assert names, component
        covered.update(names)
    assert covered >= DENIED_HISTORICALLY


def test_every_syscall_name_is_a_real_x86_64_syscall() -> None:
    for entry in load_model().entries:
        for name in entry.syscalls:
            assert number("x86-64", name) is not None, (entry.id, name)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"on_failure": "fallback-on-enosys", "fallback_errnos": ["ENOSYS", "EPERM"]}, "EPERM"),
        ({"on_failure": "fallback-on-any", "fallback_errnos": ["ENOSYS"]}, "EPERM and ENOSYS"),
        ({"on_failure": "fatal", "fallback_errnos": ["ENOSYS"]}, "cannot have fallback"),
        ({"introduced_in": "1.24", "until": "1.20"}, "is empty"),
        ({"via": "libc"}, "via"),
        ({"component": "perl"}, "unknown component"),
        ({"source": {"url": "http://example.org", "quote": "long enough quote"}}, "url"),
    ],
)
def test_bad_entries_are_refused(change: dict[str, object], message: str) -> None:
    data = raw()
    entries = data["entries"]
    assert isinstance(entries, list)
    entries[0] = {**entries[0], **change}
    with pytest.raises(pydantic.ValidationError, match=message):
        CallersModel.model_validate(data)


def test_overlapping_ranges_for_one_call_are_refused() -> None:
    data = raw()
    entries = data["entries"]
    assert isinstance(entries, list)
    copy = dict(next(e for e in entries if e["id"] == "go.os.pidfd"))
    copy["id"] = "go.os.pidfd.again"
    copy["introduced_in"] = "1.24"
    entries.append(copy)
    with pytest.raises(pydantic.ValidationError, match="overlap"):
        CallersModel.model_validate(data)


# ------------------------------------------------------------------------------ versions


def test_go_pidfd_starts_with_go_1_23_and_falls_back_on_any_error() -> None:
    assert reactions("go", "go1.22.12", "pidfd_open") == ()
    reaction = only(reactions("go", "go1.23.0", "pidfd_open"))
    assert reaction.on_failure == "fallback-on-any" and reaction.certain
    assert reaction.outcome("EPERM") == "fallback" and reaction.outcome("ENOSYS") == "fallback"
    assert reaction.via == "direct" and reaction.source.startswith("https://github.com/golang/")


def test_go_crypto_rand_turns_fatal_on_eperm_in_go_1_24() -> None:
    old = only(reactions("go", "go1.23.4", "getrandom"))
    new = only(reactions("go", "go1.24.0", "getrandom"))
    assert old.outcome("EPERM") == "fallback"
    assert new.outcome("EPERM") == "fatal" and new.outcome("ENOSYS") == "fallback"
    unknown = reactions("go", None, "getrandom")
    assert len(unknown) == 2 and not any(r.certain for r in unknown)


def test_go_faccessat2_falls_back_on_enosys_and_eperm_from_go_1_20() -> None:
    assert reactions("go", "1.19.8", "faccessat2") == ()
    reaction = only(reactions("go", "1.20", "faccessat2"))
    assert set(reaction.fallback_errnos) == {"ENOSYS", "EPERM"}
    assert reaction.condition is not None and "flags" in reaction.condition


def test_go_thread_creation_failure_is_fatal_in_every_version() -> None:
    for version in ("go1.4", "go1.19.8", "go1.25.1", None):
        reaction = only(reactions("go", version, "clone"))
        assert reaction.on_failure == "fatal" and reaction.certain and reaction.versions == "all"


def test_libuv_statx_eopnotsupp_joins_in_1_41_and_eperm_always_falls_back() -> None:
    assert reactions("libuv", "1.26.0", "statx") == ()
    before = only(reactions("libuv", "1.40.0", "statx"))
    after = only(reactions("libuv", "1.41.0", "statx"))
    assert "EOPNOTSUPP" not in before.fallback_errnos and "EOPNOTSUPP" in after.fallback_errnos
    assert before.outcome("EPERM") == after.outcome("EPERM") == "fallback"
    assert before.via == "syscall()"
    # the unknown version answers with both, certain: EPERM and ENOSYS fall back in both
    both = reactions("libuv", None, "statx")
    assert len(both) == 2 and not any(r.certain for r in both)


def test_libuv_copy_file_range_breaks_under_eperm() -> None:
    reaction = only(reactions("libuv", "1.46.0", "copy_file_range"))
    assert reaction.outcome("ENOSYS") == "fallback"
    assert reaction.outcome("EPERM") == "error-returned"


def test_glib_close_range_became_an_error_in_2_71_1() -> None:
    assert only(reactions("glib", "2.70.5", "close_range")).outcome("EPERM") == "ignored"
    newer = only(reactions("glib", "2.72.4", "close_range"))
    assert newer.outcome("EPERM") == "error-returned" and newer.outcome("ENOSYS") == "fallback"
    assert reactions("glib", "2.66.8", "close_range") == ()


def test_several_apis_of_one_component_answer_separately() -> None:
    # glib issues clone3 only through pthread_create (g_thread_new); Rust's getrandom has one
    # reaction per version; Rust std copy_file_range starts in 1.47
    assert only(reactions("glib", "2.74.6", "clone3")).on_failure == "fatal"
    assert only(reactions("rust-std", "1.35.0", "getrandom")).outcome("EPERM") == "fatal"
    assert only(reactions("rust-std", "1.36.0", "getrandom")).outcome("EPERM") == "fallback"
    assert reactions("rust-std", "1.46.0", "copy_file_range") == ()
    assert only(reactions("rust-std", "1.75.0", "statx")).fallback_errnos == ("*",)


def test_versions_written_the_way_images_carry_them() -> None:
    # JDK release files, glib file names, OpenSSL banners, Debian package versions
    assert only(reactions("openjdk", "22.0.1+8", "statx")).on_failure == "error-returned"
    assert reactions("openjdk", "21.0.2+13", "statx") == ()
    assert reactions("openssl", "1.1.0l", "getrandom") == ()
    assert only(reactions("cpython", "3.11", "getrandom")).outcome("EPERM") == "fallback"


def test_openssl_letter_releases_split_at_1_1_1d() -> None:
    # 1.1.1d added wait_random_seeded: on kernels >= 4.8 no /dev/urandom after getrandom fails
    assert only(reactions("openssl", "1.1.1c", "getrandom")).outcome("EPERM") == "fallback"
    for version in ("1.1.1d", "1.1.1w", "3.0.19", "3.2.2-fips"):
        reaction = only(reactions("openssl", version, "getrandom"))
        assert reaction.outcome("EPERM") == reaction.outcome("ENOSYS") == "error-returned"
    assert parse_version("1.1.1w", "openssl") == (1, 1, 1, 23)
    assert parse_version("0.9.8za", "openssl") > parse_version("0.9.8z", "openssl")  # type: ignore[operator]
    assert parse_version("1.1.1w") == (1, 1, 1)  # other components keep digits only


def test_thread_creation_reactions_differ_by_api_not_by_version() -> None:
    jvm = {r.entry: r for r in reactions("openjdk", None, "clone3")}
    assert jvm["openjdk.vm.startup-threads"].outcome("EPERM") == "fatal"
    assert jvm["openjdk.thread.start"].outcome("EPERM") == "error-returned"
    assert all(r.certain for r in jvm.values())  # each API reacts the same in every release
    assert only(reactions("libuv", "1.44.2", "clone")).on_failure == "fatal"


def test_unknown_component_syscall_or_unreadable_version() -> None:
    assert reactions("perl", "5.36", "statx") == ()
    assert reactions("go", "go1.23.0", "no_such_call") == ()
    # no digits: treated like an unknown version
    assert len(reactions("go", "devel", "getrandom")) == 2


# ------------------------------------------------------------------------------ system libraries


def test_util_linux_openat2_helper_exists_from_2_41_5_and_falls_back_on_enosys_only() -> None:
    # ul_open_no_symlinks: added in 2.41.5, absent from 2.42.0/2.42.1, back in 2.42.2
    for absent in ("2.38.1", "2.41.4", "2.42", "2.42.1"):
        assert reactions("util-linux", absent, "openat2") == (), absent
    for version in ("2.41.5", "2.42.2"):
        reaction = only(reactions("util-linux", version, "openat2"))
        assert reaction.via == "syscall()"
        assert reaction.outcome("ENOSYS") == "fallback"
        assert reaction.outcome("EPERM") == "error-returned"
        assert reaction.condition is not None and "mnt_context_get_target_fd" in reaction.condition
    assert "loop" in str(only(reactions("util-linux", "2.42.2", "openat2")).condition)


def test_libmount_statmount_and_listmount_return_the_error_to_the_program() -> None:
    """libmount 2.41 probes both calls and hands 'unsupported' back; it never falls back to
    mountinfo by itself, and only programs that ask for the API issue them."""
    for name in ("statmount", "listmount"):
        assert reactions("util-linux", "2.38.1", name) == ()
        reaction = only(reactions("util-linux", "2.41.5", name))
        assert reaction.on_failure == "error-returned"
        assert reaction.outcome("ENOSYS") == reaction.outcome("EPERM") == "error-returned"
        assert reaction.condition is not None and "findmnt --kernel=listmount" in (
            reaction.condition
        )
        assert reaction.source.startswith("https://github.com/util-linux/util-linux/blob/v2.41.5/")


def test_libmount_new_mount_api_falls_back_to_mount2_on_enosys() -> None:
    for name in ("open_tree", "fsopen", "mount_setattr"):
        reaction = only(reactions("util-linux", "2.41.5", name))
        assert reaction.via == f"libc:{name}"
        assert reaction.outcome("ENOSYS") == "fallback"
        assert reaction.outcome("EPERM") == "error-returned"


def test_setpriv_landlock_is_fatal_and_only_with_its_options() -> None:
    assert reactions("util-linux", "2.39.3", "landlock_create_ruleset") == ()
    for name in ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"):
        reaction = only(reactions("util-linux", "2.41.5", name))
        assert reaction.outcome("ENOSYS") == reaction.outcome("EPERM") == "fatal"
        assert "--landlock-access" in str(reaction.condition)


def test_libbsd_closefrom_falls_back_on_any_error() -> None:
    for version in ("0.11.7", "0.12.2", None):
        reaction = only(reactions("libbsd", version, "close_range"))
        assert reaction.outcome("EPERM") == reaction.outcome("ENOSYS") == "fallback"
        assert reaction.certain


def test_libsystemd_invocation_id_keyring_eperm_is_graceful_where_read() -> None:
    # Debian trixie (257.13) and bookworm (252.39, a stable backport): EPERM from a profile
    # blocking the keyring means "no invocation ID", as ENOSYS does
    for version in ("257.13", "258.1", "252.39"):
        reaction = only(reactions("libsystemd", version, "request_key"))
        assert reaction.outcome("EPERM") == reaction.outcome("ENOSYS") == "fallback", version
        assert "$INVOCATION_ID" in str(reaction.condition)
    # releases not read stay unknown: the change is from 2025, its backports are not all known
    for version in ("252.38", "254.5", "257.12"):
        assert reactions("libsystemd", version, "request_key") == (), version
    assert only(reactions("libsystemd", "257.13", "keyctl")).on_failure == "error-returned"


def test_openssl_secure_heap_mlock2_never_breaks_the_heap() -> None:
    for version in ("3.0.19", "3.5.9"):
        reaction = only(reactions("openssl", version, "mlock2"))
        assert reaction.outcome("ENOSYS") == "fallback"
        assert reaction.outcome("EPERM") == "ignored"
        assert "CRYPTO_secure_malloc_init" in str(reaction.condition)
    assert reactions("openssl", "1.1.0l", "mlock2") == ()
