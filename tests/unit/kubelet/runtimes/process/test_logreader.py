"""Reading CRI log files as ``kubectl logs`` prints them, while the container still writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from navarch.kubelet.runtimes.process import crilog, logreader


def record(text: str) -> bytes:
    return f"2026-01-01T00:00:00.000000000Z stdout F {text}\n".encode()


async def read(path: Path, **options: object) -> bytes:
    return b"".join([chunk async for chunk in logreader.read_logs(str(path), **options)])  # type: ignore[arg-type]


async def test_a_tail_ends_where_it_was_counted_although_the_container_writes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "c.log"
    log.write_bytes(record("one") + record("two"))
    counted = crilog.tail_start

    def count_then_write(files: list[str], n: int):  # a probe's request logged just after the count
        found = counted(files, n)
        with open(log, "ab") as f:
            f.write(record("three"))
        return found

    monkeypatch.setattr(crilog, "tail_start", count_then_write)
    assert await read(log, tail_lines=1) == b"two\n"
    assert await read(log, tail_lines=2) == b"two\nthree\n"  # counted after the first "three"
    assert await read(log) == b"one\ntwo\nthree\nthree\n"  # without a tail: all there is


async def test_a_tail_reaches_into_rotated_files(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    (tmp_path / "c.log.1").write_bytes(record("old"))
    log.write_bytes(record("new"))
    assert crilog.log_files(str(log)) == [str(tmp_path / "c.log.1"), str(log)]
    assert await read(log, tail_lines=2) == b"old\nnew\n"
    assert await read(log, tail_lines=0) == b""
