"""Plain text and Markdown files, and the UTF-8 decoding every text format shares."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from langchain_core.documents import Document

from .._errors import DocumentError
from .._outline import first_heading

__all__ = ["decode_utf8", "read_bytes", "read_markdown", "read_text", "read_text_file"]


def read_bytes(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError(f"file not found: {file}", path=file) from exc
    except OSError as exc:
        raise DocumentError(f"cannot read {file}: {exc.strerror or exc}", path=file) from exc


def decode_utf8(data: bytes, file: Path) -> str:
    """UTF-8 text with a BOM dropped and line ends normalised to ``\\n``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if b"\x00" in data[:8192]:
            raise DocumentError(
                f"{file} is not a text file (it holds binary data); pass a text, Markdown, "
                "PDF, DOCX, HTML, JSONL or CSV file",
                path=file,
            ) from exc
        line = data.count(b"\n", 0, exc.start) + 1
        raise DocumentError(
            f"{file} is not valid UTF-8 (byte {exc.start}, line {line}: "
            f"{data[exc.start : exc.start + 4]!r}); convert it to UTF-8 first, "
            f"for example: iconv -f cp932 -t utf-8 {file.name} > {file.stem}.utf8{file.suffix}",
            path=file,
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text_file(path: str | os.PathLike[str]) -> str:
    """Read a text file as UTF-8, dropping a BOM and normalising line ends."""
    file = Path(path)
    return decode_utf8(read_bytes(file), file)


def read_text(file: Path) -> Iterator[Document]:
    yield Document(page_content=read_text_file(file), metadata={"source": str(file)})


def read_markdown(file: Path) -> Iterator[Document]:
    """A Markdown file; its first ``# `` heading is its title."""
    text = read_text_file(file)
    metadata: dict[str, object] = {"source": str(file)}
    title = first_heading(text)
    if title:
        metadata["title"] = title
    yield Document(page_content=text, metadata=metadata)
