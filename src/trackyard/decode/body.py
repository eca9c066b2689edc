"""Reading a request body under a byte limit, inflating gzip as it streams in.

The limit applies to the *decompressed* size (Mixpanel measures its 10 MB
limit uncompressed, mixpanel-behavior.md §6.1), so a gzip bomb is refused
after inflating at most `limit + 1` bytes of it.
"""

from __future__ import annotations

import zlib

from trackyard.errors import BadRequest, PayloadTooLarge

GZIP_MAGIC = b"\x1f\x8b"
_IDENTITY_ENCODINGS = frozenset({"", "identity"})
_GZIP_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})
_KNOWN_ENCODINGS = _IDENTITY_ENCODINGS | _GZIP_ENCODINGS
# zlib's "automatic header detection": gzip or zlib streams.
_AUTO_WBITS = 32 + zlib.MAX_WBITS


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request exceeds max limit of {limit} bytes", limit)


class LimitedInflater:
    """Accepts body chunks; yields the decoded body, or raises once it passes `limit`.

    Compression is chosen by the Content-Encoding header or, when the header is
    absent or empty, by the gzip magic bytes at the start of the body.
    """

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        encoding = (content_encoding or "").strip().lower()
        if encoding not in _KNOWN_ENCODINGS:
            raise BadRequest(f"unsupported Content-Encoding: {encoding}")
        self._limit = limit
        self._declared = encoding in _GZIP_ENCODINGS
        self._inflater: zlib._Decompress | None = None
        self._decided = self._declared
        if self._declared:
            self._inflater = zlib.decompressobj(_AUTO_WBITS)
        self._pending = b""
        self._fed_compressed = False
        self._out: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """Decoded bytes so far."""
        return self._size

    def feed(self, chunk: bytes) -> None:
        if not self._decided:
            self._pending += chunk
            if len(self._pending) < len(GZIP_MAGIC):
                return
            self._decide(self._pending)
            chunk, self._pending = self._pending, b""
        if self._inflater is None:
            self._append(chunk)
        else:
            self._inflate(chunk)

    def finish(self) -> bytes:
        if not self._decided:
            self._decide(self._pending)
            self._append(self._pending)
        elif self._inflater is not None and self._fed_compressed and not self._inflater.eof:
            raise BadRequest("body is not valid gzip: truncated stream")
        return b"".join(self._out)

    def _decide(self, head: bytes) -> None:
        self._decided = True
        if head.startswith(GZIP_MAGIC):
            self._inflater = zlib.decompressobj(_AUTO_WBITS)

    def _inflate(self, chunk: bytes) -> None:
        assert self._inflater is not None
        self._fed_compressed = True
        data = chunk
        while data:
            try:
                out = self._inflater.decompress(data, self._limit - self._size + 1)
            except zlib.error as exc:
                raise BadRequest(f"body is not valid gzip: {exc}") from exc
            self._append(out)
            if not self._inflater.eof:
                data = self._inflater.unconsumed_tail
                continue
            # Concatenated gzip members form one body (RFC 1952 §2.2).
            data = self._inflater.unused_data
            if data:
                self._inflater = zlib.decompressobj(_AUTO_WBITS)

    def _append(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            raise too_large(self._limit)
        if data:
            self._out.append(data)


def inflate_bytes(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """A whole body already in memory, decoded under `limit` (the app feeds
    `LimitedInflater` chunk by chunk as the body arrives instead)."""
    inflater = LimitedInflater(content_encoding, limit)
    inflater.feed(body)
    return inflater.finish()
