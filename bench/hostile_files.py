"""Files built to exhaust a parser, generated on the spot (none is checked in).

The upload-bomb test and bench section 20 send the same files. Each is small on the
wire and expensive to read: a PDF whose one stream inflates twice to a gigabyte, a PDF
whose page tree names one page 99,000 times, and HTML nested a million elements deep.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

INFLATED_BYTES = 1 << 30
"""What the nested-compression PDF's content stream inflates to: 1 GiB of spaces."""
PAGES = 99_000
"""How many pages the page-count PDF holds (all one page object), under pypdf's ceiling of 100,000 tree entries."""
HTML_DEPTH = 1_000_000
"""How deep the nested HTML goes."""


def pdf_bytes(objects: list[bytes]) -> bytes:
    """A PDF file holding ``objects`` as objects 1, 2, ... (1 is the catalog), with its xref."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _page(parent: int = 2) -> bytes:
    return (
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>" % parent
    )


def _stream(data: bytes, filters: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(data), filters, data)


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF showing ``lines`` in Helvetica (a real file pypdf can parse)."""

    def literal(text: str) -> str:
        return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"

    shown = " ".join(f"{literal(line)} Tj 0 -16 Td" for line in lines)
    content = f"BT /F1 12 Tf 72 720 Td {shown} ET".encode("latin-1")
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    return pdf_bytes([catalog, pages, _page(), _stream(content), _FONT])


def nested_compression_pdf() -> bytes:
    """One page whose content stream is deflated twice: ~5 KB that inflates to 1 GiB."""
    inner = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    once = b"".join(inner.compress(chunk) for _ in range(INFLATED_BYTES // len(chunk)))
    twice = zlib.compress(once + inner.flush(), 9)
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    content = _stream(twice, b"/Filter [/FlateDecode /FlateDecode] ")
    return pdf_bytes([catalog, pages, _page(), content, _FONT])


def page_count_pdf() -> bytes:
    """A page tree naming one small page :data:`PAGES` times, in 5 KB.

    Two levels (99 times one node of 1,000 pages), since pypdf refuses an array of
    over 100,000 elements.
    """
    fanout = 1_000
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    root = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join([b"6 0 R"] * (PAGES // fanout)),
        PAGES,
    )
    node = b"<< /Type /Pages /Parent 2 0 R /Kids [%s] /Count %d >>" % (
        b" ".join([b"3 0 R"] * fanout),
        fanout,
    )
    content = _stream(b"BT /F1 12 Tf 72 720 Td (One more page of nothing.) Tj ET")
    return pdf_bytes([catalog, root, _page(parent=6), content, _FONT, node])


def nested_html() -> bytes:
    """:data:`HTML_DEPTH` nested ``<div>`` elements around one word (~11 MB)."""
    return b"<html><body>" + b"<div>" * HTML_DEPTH + b"deep" + b"</div>" * HTML_DEPTH + b"</html>"


BOMBS: dict[str, Callable[[], bytes]] = {
    "nested-compression.pdf": nested_compression_pdf,
    "page-count.pdf": page_count_pdf,
    "nested.html": nested_html,
}
"""Each parser bomb by the file name it is uploaded under."""
