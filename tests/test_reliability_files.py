"""Issue 9, files: inputs are never overwritten, nothing paid is thrown away, one run per
output, clear errors for damaged state and unwritable folders, ordinary permissions."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from click.testing import CliRunner, Result
from langchain_openai import ChatOpenAI

import qasynth._formats
import qasynth._lock
import qasynth._tokens
from qasynth import AuthenticationError, DocumentError, StateError, Synthesizer, check_jsonl
from qasynth._chunk import ChunkResult, ChunkRunner
from qasynth._cli import main
from qasynth._lock import RunLock, lock_path_for
from qasynth._runs import RunState
from qasynth._schema import Chunk
from qasynth.testing import FakeOpenAIServer

KEY = "sk-test-files-0123456789"


@pytest.fixture(autouse=True)
def offline_tokenizer(monkeypatch: pytest.MonkeyPatch, offline_encoding: tiktoken.Encoding) -> None:
    monkeypatch.setattr(qasynth._tokens, "_load", lambda name: offline_encoding)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAIServer() as fake:
        yield fake


def notes(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"doc{i:02d}.txt").write_text(
            f"Document {i} says the Zephyr {i} rover reached crater {i * 7}.", encoding="utf-8"
        )
    return folder


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def generate(server: FakeOpenAIServer, out: Path, *inputs: Path | str, extra: Any = ()) -> Result:
    return run("generate", *inputs, "-o", out, "--base-url", server.base_url, "-q", *extra)


def error_line(result: Result) -> str:
    [line] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    return line


# -- 1. inputs are sacred ----------------------------------------------------------------------


def test_generate_refuses_to_write_over_its_input_and_leaves_it_whole(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    document = tmp_path / "notes.txt"
    document.write_text("The Zephyr rover reached crater 7.", encoding="utf-8")
    before = document.read_bytes()
    result = generate(server, document, document)

    assert result.exit_code == 2
    assert f"{document} is also an input" in error_line(result)
    assert document.read_bytes() == before
    assert server.requests == []


@pytest.mark.parametrize(
    ("inputs", "output", "extra"),
    [
        pytest.param(["notes"], "notes/train.jsonl", (), id="output-where-the-folder-is-read"),
        pytest.param(["notes"], "train.jsonl", ("--report", "notes/doc00.txt"), id="report"),
        pytest.param(["notes/doc00.provenance.jsonl"], "notes/doc00.jsonl", ("--provenance",),
                     id="provenance"),
        pytest.param(["data/train.jsonl"], "data.jsonl", ("--val-fraction", "0.5"), id="splits"),
        pytest.param(["out.failures.jsonl"], "out.jsonl", (), id="failures"),
    ],
)  # fmt: skip
def test_no_output_of_generate_may_be_an_input_or_land_where_inputs_are_read(
    tmp_path: Path,
    server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    inputs: list[str],
    output: str,
    extra: tuple[str, ...],
) -> None:
    notes(tmp_path / "notes", 2)
    for table in ("notes/doc00.provenance.jsonl", "data/train.jsonl", "out.failures.jsonl"):
        (tmp_path / table).parent.mkdir(exist_ok=True)
        (tmp_path / table).write_text('{"text": "The rover reached crater 9."}\n', "utf-8")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.chdir(tmp_path)
    result = generate(server, Path(output), *inputs, extra=extra)

    assert result.exit_code == 2, result.stderr
    assert "input" in error_line(result)
    assert server.requests == []
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    ("output", "extra"),
    [
        pytest.param("corpus.jsonl", (), id="a-file-a-symlink-in-the-folder-points-to"),
        pytest.param("out.jsonl", ("--report", "reports/q.html"),
                     id="into-a-folder-a-symlink-in-the-folder-points-to"),
    ],
)  # fmt: skip
def test_an_output_may_not_overwrite_or_land_in_what_an_input_folder_reaches_through_symlinks(
    tmp_path: Path,
    server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    output: str,
    extra: tuple[str, ...],
) -> None:
    notes(tmp_path / "notes", 2)
    (tmp_path / "corpus.jsonl").write_text('{"text": "The crane lifts 40 tonnes."}\n', "utf-8")
    (tmp_path / "reports").mkdir()
    (tmp_path / "notes" / "corpus.jsonl").symlink_to(tmp_path / "corpus.jsonl")
    (tmp_path / "notes" / "reports").symlink_to(tmp_path / "reports", target_is_directory=True)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.chdir(tmp_path)

    result = generate(server, Path(output), "notes", extra=extra)

    assert result.exit_code == 2, result.stderr
    assert "input" in error_line(result)
    assert server.requests == []
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("command", ["generate", "plan"])
def test_an_empty_input_argument_is_refused_not_read_as_the_current_folder(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    notes(tmp_path / "private", 1)
    monkeypatch.chdir(tmp_path)
    args = ["-o", "out.jsonl", "--base-url", server.base_url] if command == "generate" else []

    result = run(command, "", *args)

    assert result.exit_code == 2
    assert "an INPUT is empty" in error_line(result)
    assert server.requests == [] and not (tmp_path / "out.jsonl").exists()


def test_a_device_or_pipe_given_as_input_is_named_as_such_not_as_missing(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)

    result = run("plan", fifo)

    assert result.exit_code == 2
    assert "is not a file or a folder (a device, a pipe or a socket)" in error_line(result)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(("--report", "out.jsonl"), "out.jsonl would be both the output and the "
                     "report: one would destroy the other; choose another --report", id="output"),
        pytest.param(("--report", "out.jsonl.qasynth.sqlite"), "would be both the run state and "
                     "the report", id="state"),
        pytest.param(("--report", "out.failures.jsonl"), "both the failures file and the report",
                     id="failures"),
        pytest.param(("--provenance", "--report", "out.provenance.jsonl"),
                     "both the provenance file and the report", id="provenance"),
        pytest.param(("--val-fraction", "0.5", "--report", "out/train.jsonl"),
                     "both the train split and the report", id="split"),
        pytest.param(("--val-fraction", "0.5", "--report", "out/report.html"),
                     "out/report.html is inside out, the folder of the splits, which holds "
                     "nothing else", id="split-folder"),
    ],
)  # fmt: skip
def test_no_output_of_generate_may_be_another_of_its_outputs(
    tmp_path: Path,
    server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    extra: tuple[str, ...],
    message: str,
) -> None:
    """--report naming the run's state would destroy every paid chunk on the next run."""
    notes(tmp_path / "notes", 2)
    monkeypatch.chdir(tmp_path)
    first = generate(server, Path("out.jsonl"), "notes")
    assert first.exit_code == 0, first.stderr
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    calls = len(server.requests)

    result = generate(server, Path("out.jsonl"), "notes", extra=extra)

    assert result.exit_code == 2, result.stderr
    assert message in error_line(result)
    assert len(server.requests) == calls
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_convert_and_eval_refuse_to_write_over_their_input(tmp_path: Path) -> None:
    table = tmp_path / "qa.csv"
    table.write_text("user,assistant\nWho makes the X200?,Acme makes the X200.\n", "utf-8")
    test = tmp_path / "test.jsonl"
    example = {
        "messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]
    }
    test.write_text(json.dumps(example) + "\n", encoding="utf-8")
    before = (table.read_bytes(), test.read_bytes())

    converted = run("convert", table, "-o", table)
    evaluated = run("eval", test, "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "-o", test)
    reported = run("eval", test, "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                   "--report", test)  # fmt: skip

    for result in (converted, evaluated, reported):
        assert result.exit_code == 2, result.output
        assert "is also an input" in error_line(result)
    assert (table.read_bytes(), test.read_bytes()) == before


# -- 7. nothing paid is thrown away ------------------------------------------------------------


def test_a_file_that_is_not_utf8_late_in_a_folder_stops_before_any_model_call(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    folder = notes(tmp_path / "notes", 20)
    (folder / "zz_latin1.txt").write_bytes("Caf\xe9 cr\xe8me on crater 9.".encode("latin-1"))
    result = generate(server, tmp_path / "out.jsonl", folder)

    assert result.exit_code == 2
    assert "zz_latin1.txt" in error_line(result)
    assert server.requests == []


def test_the_library_reads_every_input_before_the_first_model_call(
    tmp_path: Path, server: FakeOpenAIServer, offline_encoding: tiktoken.Encoding
) -> None:
    folder = notes(tmp_path / "notes", 5)
    (folder / "zz_bad.txt").write_bytes(b"\x00\xffbad")  # not text
    llm = ChatOpenAI(model="m", base_url=server.base_url, api_key="k", max_retries=0)
    synth = Synthesizer.from_options(llm=llm, encoding=offline_encoding, progress=False)

    with pytest.raises(DocumentError, match=r"zz_bad\.txt"):
        synth.run_to_file([folder], tmp_path / "out.jsonl")
    assert server.requests == []


def test_chunks_that_finish_alongside_a_fatal_error_are_kept(
    tmp_path: Path, offline_encoding: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    all_in: list[asyncio.Event] = []  # made on the run's loop

    async def process(
        self: ChunkRunner, chunk: Chunk, seq: int = 0, config: Any = None, result: Any = None
    ) -> Any:
        all_in.append(all_in[0] if all_in else asyncio.Event())
        started.append(seq)
        if len(started) == 4:  # chunks start as the inputs are split: wait for all four
            all_in[0].set()
        await asyncio.wait_for(all_in[0].wait(), timeout=10)
        await asyncio.sleep(0)  # every chunk finishes in the same turn of the loop
        if seq == 2:
            raise AuthenticationError("refused", status_code=401)
        return ChunkResult(seq=seq, chunk=chunk)

    monkeypatch.setattr(ChunkRunner, "process", process)
    out = tmp_path / "out.jsonl"
    llm = ChatOpenAI(model="m", base_url="http://127.0.0.1:9/v1", api_key="k")
    synth = Synthesizer.from_options(llm=llm, encoding=offline_encoding, progress=False)
    docs = [f"Report {i} on the rover." for i in range(4)]

    with pytest.raises(AuthenticationError):
        synth.run_to_file(docs, out)
    with sqlite3.connect(f"{out}.qasynth.sqlite") as db:
        saved = sorted(seq for (seq,) in db.execute("SELECT seq FROM chunks"))
    assert saved == [0, 1, 3]


# -- 8. one run per output ---------------------------------------------------------------------


def test_a_second_run_on_the_same_output_stops_at_once_naming_the_first(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    folder = notes(tmp_path / "notes", 2)
    out = tmp_path / "out.jsonl"
    with RunLock(out):  # as a first run, still going, holds it
        result = generate(server, out, folder)

    assert result.exit_code == 2
    line = error_line(result)
    assert f"another qasynth run, pid {os.getpid()}, is writing {out}" in line
    assert server.requests == []
    assert not lock_path_for(out).exists()


HOLDER = """
import fcntl, os, sys
handle = open(sys.argv[1], "a+", encoding="utf-8")  # the lock as a run takes it (see _lock.py)
fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
handle.write(str(os.getpid()))
handle.flush()
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_a_lock_left_by_a_killed_run_does_not_block_the_next(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    out = tmp_path / "out.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_path_for(out))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    held = generate(server, out, notes(tmp_path / "notes", 1))
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert lock_path_for(out).read_text(encoding="utf-8") == str(holder.pid)  # left behind

    after = generate(server, out, tmp_path / "notes")

    assert held.exit_code == 2 and f"pid {holder.pid}" in error_line(held)
    assert after.exit_code == 0, after.stderr


def test_a_lock_file_removed_between_opening_and_locking_it_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.jsonl"
    first = RunLock(out).__enter__()
    try_lock = qasynth._lock._try_lock
    later: list[RunLock] = []

    def first_ends_and_a_third_starts(handle: Any) -> bool:
        if not later:  # between our open and our lock: the first run ends, a third begins
            later.append(RunLock(out))
            first.__exit__(None, None, None)
            later[0].__enter__()
        return try_lock(handle)

    monkeypatch.setattr(qasynth._lock, "_try_lock", first_ends_and_a_third_starts)
    with pytest.raises(StateError, match=f"pid {os.getpid()}"):
        RunLock(out).__enter__()  # the old file is free, but the third run holds the real one
    later[0].__exit__(None, None, None)


# -- 9. clear errors for the environment -------------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "foreign-sqlite", "bad-fingerprint"])
def test_a_damaged_or_foreign_state_file_is_named_and_restart_replaces_it(
    tmp_path: Path, server: FakeOpenAIServer, damage: str
) -> None:
    folder = notes(tmp_path / "notes", 2)
    out = tmp_path / "out.jsonl"
    state = Path(f"{out}.qasynth.sqlite")
    if damage == "garbage":
        state.write_bytes(b"this is not a database\x00" * 100)
    else:
        with sqlite3.connect(state) as db:
            if damage == "foreign-sqlite":
                db.execute("CREATE TABLE users (name TEXT)")
            else:
                db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                db.execute("INSERT INTO meta VALUES ('fingerprint', '{not json')")
        db.close()

    refused = generate(server, out, folder)
    restarted = generate(server, out, folder, extra=("--restart",))

    assert refused.exit_code == 2
    line = error_line(refused)
    assert str(state) in line and "--restart" in line
    assert "unexpected" not in line
    assert restarted.exit_code == 0, restarted.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_a_folder_that_cannot_be_written_is_named(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = notes(tmp_path / "notes", 1)
    locked = tmp_path / "locked"
    locked.mkdir()

    def no_write(path: Any, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(qasynth._lock, "open", no_write, raising=False)  # as a read-only folder
    result = generate(server, locked / "out.jsonl", folder)

    assert result.exit_code == 2
    line = error_line(result)
    assert str(locked) in line and "Permission denied" in line
    assert server.requests == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_is_named(tmp_path: Path, server: FakeOpenAIServer) -> None:
    folder = notes(tmp_path / "notes", 1)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = generate(server, locked / "out.jsonl", folder)
    finally:
        locked.chmod(0o755)

    assert result.exit_code == 2
    assert str(locked) in error_line(result)
    assert server.requests == []


def test_a_full_disk_while_saving_a_chunk_keeps_the_chunks_saved_before(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = notes(tmp_path / "notes", 4)
    out = tmp_path / "out.jsonl"
    save = RunState._save

    def save_until_full(self: RunState, result: ChunkResult) -> None:
        if self._db.execute("SELECT count(*) FROM chunks").fetchone()[0] >= 2:
            raise sqlite3.OperationalError("database or disk is full")
        save(self, result)

    monkeypatch.setattr(RunState, "_save", save_until_full)
    full = generate(server, out, folder, extra=("--concurrency", "1"))
    monkeypatch.setattr(RunState, "_save", save)
    paid = len(server.requests)
    resumed = generate(server, out, folder, extra=("--concurrency", "1"))

    assert full.exit_code == 2
    line = error_line(full)
    assert f"{out}.qasynth.sqlite" in line and "free some disk space" in line
    assert resumed.exit_code == 0, resumed.stderr
    assert "2 resumed from an earlier run" in resumed.stderr
    # the third chunk's reply was kept in the state as it arrived, so only the fourth
    # chunk may be asked again (unless its reply, too, came back before the stop)
    assert len(server.requests) - paid <= 1


def test_a_full_disk_while_writing_the_jsonl_keeps_every_result_for_the_rerun(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = notes(tmp_path / "notes", 3)
    out = tmp_path / "out.jsonl"

    def full(path: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with monkeypatch.context() as patch:
        patch.setattr(qasynth._formats, "example_writer", full)
        failed = generate(server, out, folder)
    paid = len(server.requests)
    written = generate(server, out, folder)

    assert failed.exit_code == 2
    line = error_line(failed)
    assert str(out) in line and "No space left on device" in line
    assert written.exit_code == 0 and len(server.requests) == paid  # nothing asked twice
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


# -- 11. ordinary files ------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize(("umask", "mode"), [(0o027, 0o640), (0o002, 0o664)])
def test_every_file_a_run_leaves_has_the_permissions_the_umask_gives(
    tmp_path: Path, umask: int, mode: int, offline_encoding: tiktoken.Encoding
) -> None:
    from qasynth.testing import ErrorReply

    out = tmp_path / "run" / "out.jsonl"
    old = os.umask(umask)
    try:
        with RunLock(tmp_path / "other.jsonl") as lock:
            lock_mode = stat.S_IMODE(lock.path.stat().st_mode)
        with FakeOpenAIServer(faults={1: ErrorReply(400, "Invalid request.")}) as fake:
            llm = ChatOpenAI(model="m", base_url=fake.base_url, api_key="k", max_retries=0)
            synth = Synthesizer.from_options(
                llm=llm, encoding=offline_encoding, progress=False, concurrency=1
            )
            synth.run_to_file(["One report.", "Another report."], out)
    finally:
        os.umask(old)

    made = sorted(p.name for p in out.parent.iterdir())
    assert made == ["out.failures.jsonl", "out.jsonl", "out.jsonl.qasynth.sqlite"]
    for path in out.parent.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert lock_mode == mode


@pytest.mark.parametrize("depth", [5_000, 200_000])
def test_check_reports_deeply_nested_json_as_a_problem_on_its_line(
    tmp_path: Path, depth: int
) -> None:
    example = {
        "messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]
    }
    path = tmp_path / "train.jsonl"
    nested = '{"messages": ' + "[" * depth + "]" * depth + "}"
    path.write_text(f"{json.dumps(example)}\n{nested}\n{json.dumps(example)}\n", encoding="utf-8")

    report = check_jsonl(path, min_examples=1)
    result = run("check", path)

    assert [(p.line, p.message) for p in report.problems] == [
        (2, "not valid JSON: nested too deeply to read (arrays or objects inside one another)")
    ]
    assert report.examples == 2
    assert result.exit_code == 1
    assert "line 2: not valid JSON: nested too deeply" in result.output


@pytest.mark.parametrize("command", ["generate", "convert", "eval"])
def test_deeply_nested_json_in_an_input_is_one_line_not_an_unexpected_error(
    tmp_path: Path, server: FakeOpenAIServer, command: str
) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": ' + "[" * 5000 + "]" * 5000 + "}\n", encoding="utf-8")
    extra = {
        "generate": ["--base-url", server.base_url],
        "eval": ["--model", "m", "--base-url", server.base_url],
        "convert": [],
    }[command]
    output = [] if command == "eval" else ["-o", tmp_path / "out.jsonl"]
    result = run(command, path, *output, *extra)  # fmt: skip

    assert result.exit_code == 2
    assert "nested too deeply" in error_line(result)
    assert server.requests == []
