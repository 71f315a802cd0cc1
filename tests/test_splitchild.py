"""A large input is split in a child process: the same chunks as the thread makes, in
the same order, and nothing lost or repeated when the child fails or is killed."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable, Iterator

import pytest
import tiktoken
from langchain_core.documents import Document

import qasynth._splitchild as splitchild
from qasynth import Chunker
from qasynth._schema import Chunk
from qasynth._splitchild import SplitSettings, Splitter, batches


def text(i: int, paragraphs: int) -> str:
    parts = [f"# Part {i}"]
    for p in range(paragraphs):
        parts.append(
            f"Report {i}.{p}: the survey near Lake Orin counted {i * 31 + p} samples "
            f"over {p % 9 + 2} days, and the team wrote up every finding."
        )
    return "\n\n".join(parts)


def docs(sizes: Iterable[int]) -> list[Document]:
    return [
        Document(page_content=text(i, n), metadata={"source": f"doc{i}.md"})
        for i, n in enumerate(sizes)
    ]


@pytest.fixture
def chunker(offline_encoding: tiktoken.Encoding) -> Chunker:
    return Chunker(chunk_size=60, chunk_overlap=8, encoding=offline_encoding)


@pytest.fixture
def child_for_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every input is large enough for a child, and the thread splits nothing while
    the child starts (the run is never short of chunks)."""
    monkeypatch.setattr(splitchild, "CHILD_MIN_CHARS", 0)
    monkeypatch.setattr(splitchild, "AHEAD", 0)


def settings_of(chunker: Chunker) -> SplitSettings:
    return SplitSettings(chunker.chunk_size, chunker.chunk_overlap, chunker.encoding, None)


class Recorder:
    """``chunks_of`` for the thread, noting which documents it splits."""

    def __init__(self, chunker: Chunker) -> None:
        self.chunker = chunker
        self.split: list[str] = []

    def __call__(self, document: Document) -> Iterator[Chunk]:
        self.split.append(document.metadata["source"])
        return self.chunker.iter_split_document(document)


def reference(chunker: Chunker, documents: list[Document]) -> list[Chunk]:
    return [c for d in documents for c in chunker.iter_split_document(d)]


def flat(batches_: Iterable[tuple[list[Chunk], bool]]) -> list[Chunk]:
    return [chunk for chunks, _ in batches_ for chunk in chunks]


@pytest.mark.usefixtures("child_for_all")
def test_a_large_input_split_in_the_child_gives_the_threads_chunks_in_order(
    chunker: Chunker,
) -> None:
    documents = docs([3, 120, 0, 40, 7])
    recorder = Recorder(chunker)
    got = list(Splitter(recorder, documents, settings_of(chunker)))
    assert flat(got) == reference(chunker, documents)
    assert recorder.split == []  # all of it in the child
    # each document's batches end with one marked as its last, handed over 32 at a time
    assert [last for _, last in got].count(True) == len(documents)
    assert max(len(chunks) for chunks, _ in got) == splitchild.HANDOVER


def test_the_thread_splits_the_first_documents_until_the_child_is_ready(
    chunker: Chunker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(splitchild, "CHILD_MIN_CHARS", 0)
    documents = docs([5] * 12)
    splitter = Splitter(chunker.iter_split_document, documents, settings_of(chunker))
    recorder = Recorder(chunker)

    def slow_until_ready(document: Document) -> Iterator[Chunk]:
        if recorder.split:  # the second document waits until the child is ready
            child = splitter._child
            assert child is not None and child.ready.wait(60)
        return recorder(document)

    splitter._chunks_of = slow_until_ready
    assert flat(splitter) == reference(chunker, documents)
    assert recorder.split == ["doc0.md", "doc1.md"]  # the child split the other ten


@pytest.mark.usefixtures("child_for_all")
def test_a_child_killed_part_way_leaves_the_rest_to_the_thread_with_nothing_lost_or_repeated(
    chunker: Chunker, caplog: pytest.LogCaptureFixture
) -> None:
    documents = docs([2, 400, 30])
    recorder = Recorder(chunker)
    splitter = Splitter(recorder, documents, settings_of(chunker))
    got: list[Chunk] = []
    for chunks, _ in splitter:
        got.extend(chunks)
        child = splitter._child
        if len(got) > 40 and child is not None and child.process.poll() is None:
            child.process.kill()  # in the middle of the long document
            child.process.wait()
    assert got == reference(chunker, documents)
    assert "doc1.md" in recorder.split  # the thread finished the long one
    assert "split process ended" in caplog.text


@pytest.mark.usefixtures("child_for_all")
def test_a_child_that_cannot_start_leaves_the_split_to_the_thread(
    chunker: Chunker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        splitchild,
        "child_command",
        lambda entry: (["python3", "-c", "raise SystemExit(3)"], {}, "."),
    )
    documents = docs([3, 50])
    recorder = Recorder(chunker)
    assert flat(Splitter(recorder, documents, settings_of(chunker))) == reference(
        chunker, documents
    )
    assert recorder.split == ["doc0.md", "doc1.md"]


class LocalSource(str):
    """A source whose class the child cannot import (it lives in the tests)."""


@pytest.mark.usefixtures("child_for_all")
def test_a_document_the_child_cannot_read_is_split_by_the_thread(chunker: Chunker) -> None:
    documents = docs([3, 20, 4])
    documents[1].metadata["source"] = LocalSource("doc1.md")
    recorder = Recorder(chunker)
    assert flat(Splitter(recorder, documents, settings_of(chunker))) == reference(
        chunker, documents
    )
    assert recorder.split == ["doc1.md", "doc2.md"]


@pytest.mark.usefixtures("child_for_all")
def test_a_document_the_child_cannot_split_raises_the_threads_error(chunker: Chunker) -> None:
    documents = docs([3, 4])
    documents.append(Document(page_content="a lone \ud800 surrogate", metadata={"source": "bad"}))
    got: list[Chunk] = []
    with pytest.raises(UnicodeEncodeError):
        for chunks, _ in Splitter(Recorder(chunker), documents, settings_of(chunker)):
            got.extend(chunks)
    assert got == reference(chunker, documents[:2])


@pytest.mark.usefixtures("child_for_all")
def test_a_stop_ends_the_child_at_once(chunker: Chunker) -> None:
    documents = docs([2000] * 3)
    splitter = Splitter(Recorder(chunker), documents, settings_of(chunker))
    got = []
    for chunks, _ in splitter:
        got.extend(chunks)
        splitter.stop()
    child = splitter._child
    assert child is not None and child.process.poll() is not None
    assert 0 < len(got) < len(reference(chunker, documents[:1]))


def test_a_small_input_or_a_splitter_of_its_own_stays_in_the_thread(chunker: Chunker) -> None:
    documents = docs([3, 4])
    recorder = Recorder(chunker)
    splitter = Splitter(recorder, documents, settings_of(chunker))  # far below the threshold
    assert flat(splitter) == reference(chunker, documents)
    assert splitter._child is None and recorder.split == ["doc0.md", "doc1.md"]


def test_batches_skip_the_chunks_already_sent_of_the_first_document(chunker: Chunker) -> None:
    documents = docs([60, 5])
    expected = reference(chunker, documents)
    first = len(list(chunker.iter_split_document(documents[0])))
    got = flat(
        batches(
            chunker.iter_split_document, collections.deque(documents), threading.Event(), skip=10
        )
    )
    assert got == expected[10:] and len(got) == len(expected) - 10 and first > 10


def test_while_the_child_starts_the_thread_splits_only_what_the_run_is_short_of(
    chunker: Chunker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(splitchild, "CHILD_MIN_CHARS", 0)
    documents = docs([5] * 6)
    recorder = Recorder(chunker)
    waiting = [1000]  # the run has plenty of chunks waiting: nothing to split here

    splitter = Splitter(recorder, documents, settings_of(chunker), lambda: waiting[0])
    assert flat(splitter) == reference(chunker, documents)
    assert recorder.split == []


@pytest.mark.usefixtures("child_for_all")
def test_a_long_text_goes_to_the_child_in_slices_and_comes_back_whole(
    chunker: Chunker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(splitchild, "_SLICE", 1000)  # the run never pickles a whole text
    documents = docs([2, 300, 0])
    documents[1].metadata["page_starts"] = [0, 5000]
    recorder = Recorder(chunker)
    got = flat(Splitter(recorder, documents, settings_of(chunker)))
    assert got == reference(chunker, documents) and recorder.split == []
    assert {c.page for c in got if c.source == "doc1.md"} == {1, 2}


@pytest.mark.usefixtures("child_for_all")
def test_on_one_cpu_the_split_stays_in_the_thread(
    chunker: Chunker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(splitchild, "cpus", lambda: 1)
    documents = docs([3, 4])
    splitter = Splitter(Recorder(chunker), documents, settings_of(chunker))
    assert flat(splitter) == reference(chunker, documents) and splitter._child is None


@pytest.mark.parametrize("killed", [False, True], ids=["child-finishes", "child-killed"])
def test_the_child_takes_over_in_the_middle_of_a_long_document(
    chunker: Chunker, monkeypatch: pytest.MonkeyPatch, killed: bool
) -> None:
    """The thread starts a long document at once; once the child is ready it goes on
    from the next chunk, neither repeating nor losing one (nor does the thread, if the
    child is killed after sending some)."""
    monkeypatch.setattr(splitchild, "CHILD_MIN_CHARS", 0)
    documents = docs([400, 3])
    expected = reference(chunker, documents)
    splitter = Splitter(chunker.iter_split_document, documents, settings_of(chunker))
    made_here: list[Chunk] = []

    def until_ready(document: Document) -> Iterator[Chunk]:
        for chunk in chunker.iter_split_document(document):
            if len(made_here) == 40:  # the child gets ready in the second batch
                child = splitter._child
                assert child is not None and child.ready.wait(60)
            made_here.append(chunk)
            yield chunk

    splitter._chunks_of = until_ready
    got = []
    for batch in splitter:
        got.append(batch)
        child = splitter._child
        if killed and len(flat(got)) > 100 and child is not None and child.process.poll() is None:
            child.process.kill()  # after it sent a batch of its own
            child.process.wait()
    assert flat(got) == expected
    assert len(made_here) >= 2 * splitchild.HANDOVER and len(expected) > 200
    assert [last for _, last in got].count(True) == 2  # each document ends once
