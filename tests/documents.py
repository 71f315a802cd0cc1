"""Builders for the PDF and DOCX files the tests and benchmarks read (no binary fixtures).

``make_pdf`` writes a small PDF by hand. ASCII lines are written as literal
strings in the standard Helvetica font, as most English PDFs are; other lines
in a Type0 font whose character ids are Unicode code points, mapped back to
text by a ToUnicode CMap, so any text in the Basic Multilingual Plane
(Japanese, ...) has a text layer. Those are not drawn with real glyphs: the
files are for text extraction, not for viewing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def _utf16_hex(text: str) -> str:
    data = text.encode("utf-16-be")
    if len(data) != 2 * len(text):
        raise ValueError("make_pdf supports only characters of the Basic Multilingual Plane")
    return data.hex().upper()


def _to_unicode_cmap(high_bytes: set[int]) -> bytes:
    ranges = [f"<{h:02X}00> <{h:02X}FF> <{h:02X}00>" for h in sorted(high_bytes)]
    blocks = []
    for start in range(0, len(ranges), 100):  # at most 100 entries per block
        block = ranges[start : start + 100]
        blocks.append(f"{len(block)} beginbfrange\n" + "\n".join(block) + "\nendbfrange")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")


def _page_content(lines: Sequence[str]) -> bytes:
    if not lines:
        return b"q Q\n"  # a page with nothing written on it, like a scanned image page
    ops = ["BT", "72 760 Td", "14 TL"]
    for line in lines:
        if line.isascii():
            literal = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"/F2 11 Tf ({literal}) Tj T*")
        else:
            ops.append(f"/F1 11 Tf <{_utf16_hex(line)}> Tj T*")
    ops.append("ET")
    return ("\n".join(ops) + "\n").encode("ascii")


def pdf_bytes(pages: Sequence[Sequence[str]], *, title: str | None = None) -> bytes:
    """A PDF whose page ``i`` shows the lines ``pages[i]`` (an empty list: no text)."""
    high = {ord(ch) >> 8 for page in pages for line in page for ch in line} | {0}
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(data: bytes) -> bytes:
        return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"

    catalog = add(b"")  # filled in below
    tree = add(b"")
    cmap = add(stream(_to_unicode_cmap(high)))
    cid_font = add(
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Helvetica /CIDSystemInfo "
        b"<< /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 500 >>"
    )
    font = add(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /Helvetica /Encoding /Identity-H "
        b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (cid_font, cmap)
    )
    helvetica = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    kids = []
    for lines in pages:
        content = add(stream(_page_content(lines)))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources "
                b"<< /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>"
                % (tree, font, helvetica, content)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    refs = " ".join(f"{k} 0 R" for k in kids).encode()
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))
    info = add(b"<< /Title <FEFF%s> >>" % _utf16_hex(title).encode() if title else b"<< >>")

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\n" % (
        len(objects) + 1,
        catalog,
        info,
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def make_pdf(path: Path, pages: Sequence[Sequence[str]], *, title: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf_bytes(pages, title=title))
    return path


def make_encrypted_pdf(path: Path, pages: Sequence[Sequence[str]], *, password: str) -> Path:
    """A PDF that needs ``password`` to open (``""``: opens without one, like many PDFs
    that only restrict printing or copying)."""
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(path.with_suffix(".plain.pdf"), pages)
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password=password, owner_password="owner", algorithm="AES-128")
    with path.open("wb") as stream:
        writer.write(stream)
    plain.unlink()
    return path


def make_docx(path: Path, blocks: Sequence[tuple[str, object]], *, title: str = "") -> Path:
    """A DOCX file from ``(kind, content)`` blocks: ``("title", text)``, ``("h1".."h3",
    text)``, ``("p", text)``, ``("li", text)`` or ``("table", [[cell, ...], ...])``."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    for kind, content in blocks:
        if kind == "title":
            document.add_heading(str(content), level=0)
        elif kind in ("h1", "h2", "h3"):
            document.add_heading(str(content), level=int(kind[1]))
        elif kind == "p":
            document.add_paragraph(str(content))
        elif kind == "li":
            document.add_paragraph(str(content), style="List Bullet")
        elif kind == "table":
            rows = list(content)  # type: ignore[call-overload]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for row, cells in zip(table.rows, rows, strict=True):
                for cell, text in zip(row.cells, cells, strict=True):
                    cell.text = text
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path
