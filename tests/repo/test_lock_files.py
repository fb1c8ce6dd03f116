"""requirements.lock and requirements-dev.lock: every pin hashed, the build backend locked, the
image running what the tests ran, and both installed with --require-hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("requirements.lock", "requirements-dev.lock")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?: ;.*)?$")
_HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


def pins(name: str) -> dict[str, tuple[str, list[str]]]:
    """Package -> (version, hashes), read as pip reads the file (backslash continuations)."""
    text = (ROOT / name).read_text(encoding="utf-8")
    found: dict[str, tuple[str, list[str]]] = {}
    for logical in re.sub(r"\\\n", " ", text).splitlines():
        line = logical.split("#", 1)[0].strip() if logical.lstrip().startswith("#") else logical
        if not line.strip():
            continue
        requirement, *options = line.split(" --hash=")
        match = _PIN.match(requirement.strip())
        assert match, f"{name}: not an exact pin: {requirement.strip()!r}"
        hashes = [f"--hash={option.strip()}" for option in options]
        assert all(_HASH.match(h) for h in hashes), f"{name}: bad hash in {line[:80]!r}"
        found[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return found


@pytest.mark.parametrize("name", LOCKS)
def test_every_pin_has_hashes(name: str) -> None:
    locked = pins(name)
    assert len(locked) > 10
    unhashed = [package for package, (_, hashes) in locked.items() if not hashes]
    assert not unhashed, f"{name}: pins without --hash: {unhashed}"


@pytest.mark.parametrize("name", LOCKS)
def test_the_build_backend_is_locked(name: str) -> None:
    # The project is installed with --no-build-isolation: its backend must come from the lock.
    locked = pins(name)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for spec in pyproject["build-system"]["requires"]:
        requirement = Requirement(spec)
        package = canonicalize_name(requirement.name)
        assert package in locked, f"{name} does not lock the build requirement {spec}"
        assert requirement.specifier.contains(locked[package][0], prereleases=True), spec


def test_the_image_runs_the_versions_the_tests_ran() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    differ = {
        package: (version, dev.get(package, ("missing",))[0])
        for package, (version, _) in runtime.items()
        if dev.get(package, ("",))[0] != version
    }
    assert not differ, f"requirements.lock and requirements-dev.lock disagree: {differ}"


def test_setup_and_lock_use_the_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pip install --quiet --require-hashes -r requirements-dev.lock" in makefile
    assert "pip install --quiet --no-deps --no-build-isolation -e ." in makefile
    assert "--upgrade pip" not in makefile  # an unhashed download
    assert "uv pip compile pyproject.toml - --generate-hashes" in makefile
