"""The commands `connector dev`'s banner suggests run as printed in the user's shell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api.dev_stack import shell_command

pytestmark = pytest.mark.unit


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_a_connector_that_path_does_not_find_is_named_by_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv_cli = _executable(tmp_path / ".venv" / "bin" / "connector")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shell_command(str(venv_cli)) == os.path.join(".venv", "bin", "connector")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert shell_command(str(venv_cli)) == str(venv_cli)


def test_the_connector_path_finds_is_named_by_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _executable(tmp_path / "bin" / "connector")
    monkeypatch.setenv("PATH", f"{on_path.parent}:/usr/bin:/bin")
    assert shell_command(str(on_path)) == "connector"
    assert shell_command("/somewhere/api/cli.py") == "connector"  # python -m api.cli: the usual name


def test_a_path_with_a_space_is_quoted_for_the_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv_cli = _executable(tmp_path / "my project" / ".venv" / "bin" / "connector")
    monkeypatch.chdir(tmp_path / "my project")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shell_command(str(venv_cli)) == os.path.join(".venv", "bin", "connector")
    monkeypatch.chdir(tmp_path)
    assert shell_command(str(venv_cli)) == "'my project/.venv/bin/connector'"
