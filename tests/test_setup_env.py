"""`scripts/setup_env.sh`: which install a request needs, read from the venv's stamp."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup(venv: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EEG_VLM_VENV": str(venv), "PYTHON": "/nonexistent/python"}  # would fail if it built
    return subprocess.run(["bash", "scripts/setup_env.sh", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def _stamp(venv: Path, kind: str) -> None:
    digest = hashlib.sha256((ROOT / "setup.py").read_bytes()).hexdigest()[:16]
    venv.mkdir(exist_ok=True)
    (venv / f".installed-{digest}-{kind}").touch()


def test_an_all_install_serves_a_core_request(tmp_path):
    _stamp(tmp_path / "v", "all")
    for request in ((), ("all",), ("core",)):
        done = _setup(tmp_path / "v", *request)
        assert done.returncode == 0 and done.stderr == "", done.stderr


def test_a_core_install_serves_core_but_not_all(tmp_path):
    _stamp(tmp_path / "v", "core")
    assert _setup(tmp_path / "v", "core").returncode == 0
    wants_more = _setup(tmp_path / "v", "all")  # goes on to install: here it fails on the fake Python
    assert wants_more.returncode != 0 and "[setup]" in wants_more.stderr


def test_an_unknown_request_is_refused(tmp_path):
    done = _setup(tmp_path / "v", "everything")
    assert done.returncode == 2 and "unknown install 'everything' (all or core)" in done.stderr
