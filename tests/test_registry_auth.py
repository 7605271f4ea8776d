"""Registry credentials reach skopeo as podman users give them: --creds, --authfile and
REGISTRY_AUTH_FILE, against a real registry (Debian's docker-registry) with htpasswd auth."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from imagekit import OciLayout, file, layer_tar

USER, PASSWORD = "pw", "s3cret"


def bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # libxcrypt's bcrypt: what htpasswd -B writes

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    if not (shutil.which("docker-registry") and shutil.which("skopeo")):
        pytest.skip("docker-registry and skopeo are needed")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"{USER}:{bcrypt(PASSWORD)}\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: portwise\n    path: {htpasswd}\n"
    )
    log = (tmp_path / "registry.log").open("w")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, (tmp_path / "registry.log").read_text()
            assert time.monotonic() < deadline, "registry did not start"
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portwise", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_credentials_reach_the_registry(registry: str, tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "img")
    layout.add_image([layer_tar([file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.0\n")])])
    subprocess.run(
        [
            "skopeo",
            "copy",
            "-q",
            "--dest-tls-verify=false",
            f"--dest-creds={USER}:{PASSWORD}",
            f"oci:{layout.root}:latest",
            f"docker://{registry}/pw/small:1",
        ],
        check=True,
    )
    ref = f"docker://{registry}/pw/small:1"
    common = ("--no-tls-verify", "--no-cache", "--cache-dir", str(tmp_path / "c"), "--json")
    empty = tmp_path / "empty-auth.json"
    empty.write_text('{"auths": {}}')
    refused = run("scan", ref, *common, env={"REGISTRY_AUTH_FILE": str(empty)})
    assert refused.returncode == 65, refused.stderr
    assert "skopeo could not read it" in refused.stderr and refused.stdout == ""
    assert "authentication required" in refused.stderr or "unauthorized" in refused.stderr

    creds = run("scan", ref, *common, "--creds", f"{USER}:{PASSWORD}")
    assert creds.returncode == 0, creds.stderr
    assert json.loads(creds.stdout)["os_release"]["id"] == "alpine"
    wrong = run("scan", ref, *common, "--creds", f"{USER}:nope")
    assert wrong.returncode == 65

    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {registry: {"auth": token}}}))
    by_file = run("scan", ref, *common, "--authfile", str(auth))
    assert by_file.returncode == 0, by_file.stderr
    by_env = run("scan", ref, *common, env={"REGISTRY_AUTH_FILE": str(auth)})
    assert by_env.returncode == 0, by_env.stderr
    # a short name (no docker://) resolves to the same registry image
    short = run("scan", f"{registry}/pw/small:1", *common, "--authfile", str(auth))
    assert short.returncode == 0, short.stderr
    assert json.loads(short.stdout)["reference"] == ref
    missing = run("scan", ref, *common, "--authfile", str(tmp_path / "none.json"))
    assert missing.returncode == 64 and "--authfile" in missing.stderr
