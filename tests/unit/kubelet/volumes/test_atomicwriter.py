"""Upstream's atomic writer layout: timestamped version dirs behind a ``..data`` link."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from navarch.kubelet.volumes import atomicwriter
from navarch.kubelet.volumes.atomicwriter import FileProjection

VERSION = re.compile(r"^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$")


def versions(d: Path) -> list[str]:
    return sorted(n for n in os.listdir(d) if VERSION.match(n))


def test_layout(tmp_path: Path) -> None:
    assert atomicwriter.write(str(tmp_path), {"a": FileProjection(b"1", 0o600), "dir/b": FileProjection(b"2")})
    [version] = versions(tmp_path)
    assert os.readlink(tmp_path / "..data") == version
    assert os.readlink(tmp_path / "a") == "..data/a"
    assert os.readlink(tmp_path / "dir") == "..data/dir"
    assert (tmp_path / "a").read_text() == "1" and (tmp_path / "dir" / "b").read_text() == "2"
    assert (tmp_path / version / "a").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / version / "dir" / "b").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / version).stat().st_mode & 0o777 == 0o755
    assert sorted(os.listdir(tmp_path)) == sorted(["..data", version, "a", "dir"])


def test_unchanged_content_is_not_rewritten(tmp_path: Path) -> None:
    payload = {"a": FileProjection(b"1")}
    atomicwriter.write(str(tmp_path), payload)
    before = os.readlink(tmp_path / "..data")
    assert not atomicwriter.write(str(tmp_path), payload)
    assert os.readlink(tmp_path / "..data") == before


def test_change_swaps_data_and_prunes(tmp_path: Path) -> None:
    atomicwriter.write(str(tmp_path), {"a": FileProjection(b"1"), "gone": FileProjection(b"x")})
    first = os.readlink(tmp_path / "..data")
    assert atomicwriter.write(str(tmp_path), {"a": FileProjection(b"2"), "new": FileProjection(b"n")})
    second = os.readlink(tmp_path / "..data")
    assert second != first and versions(tmp_path) == [second]
    assert (tmp_path / "a").read_text() == "2" and (tmp_path / "new").read_text() == "n"
    assert not os.path.lexists(tmp_path / "gone")
    assert not os.path.lexists(tmp_path / "..data_tmp")


def test_removing_a_key_alone_is_a_change(tmp_path: Path) -> None:
    atomicwriter.write(str(tmp_path), {"a": FileProjection(b"1"), "b": FileProjection(b"2")})
    assert atomicwriter.write(str(tmp_path), {"a": FileProjection(b"1")})
    assert sorted(p for p in os.listdir(tmp_path) if not p.startswith("..")) == ["a"]


def test_empty_payload(tmp_path: Path) -> None:
    assert atomicwriter.write(str(tmp_path), {})
    assert os.path.isdir(tmp_path / "..data")


@pytest.mark.parametrize("path,message", [
    ("/abs", "must be relative path"),
    ("a/../b", "must not contain '..'"),
    ("..hidden", "must not start with '..'"),
    ("", "must not be empty"),
    ("x" * 256, "filenames must be less than or equal to 255"),
])
def test_invalid_paths(tmp_path: Path, path: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        atomicwriter.write(str(tmp_path), {path: FileProjection(b"")})
    assert not os.path.lexists(tmp_path / "..data")
