"""Uploads: streamed into a private folder with a size limit, typed by their content, never by their name.

A request body (raw bytes, or ``multipart/form-data`` with one or more files) is written chunk by chunk to files
created with mode 0600 inside the server's private folder (mode 0700); the client's file name is kept as a label only
and never becomes a path. Every byte received counts against the size limit, multipart framing, headers and ignored
fields included (130 000 empty parts cannot slip through), and nothing more is read once it is passed (413). Each
file is typed by its first bytes (`sniff_kind`): an image or a video container, or 415.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

#: (offset, magic bytes, kind, suffix): the containers OpenCV decodes.
_MAGIC: tuple[tuple[int, bytes, str, str], ...] = (
    (0, b"\xff\xd8\xff", "image", ".jpg"),
    (0, b"\x89PNG\r\n\x1a\n", "image", ".png"),
    (0, b"BM", "image", ".bmp"),
    (0, b"II*\x00", "image", ".tif"),
    (0, b"MM\x00*", "image", ".tif"),
    (8, b"WEBP", "image", ".webp"),
    (4, b"ftyp", "video", ".mp4"),
    (0, b"\x1a\x45\xdf\xa3", "video", ".mkv"),
    (8, b"AVI ", "video", ".avi"),
    (0, b"\x00\x00\x01\xba", "video", ".mpg"),
    (0, b"FLV", "video", ".flv"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "video", ".wmv"),
)
_HEAD = 16
_MAX_NAME = 200


class UploadError(Exception):
    """An upload the server refuses: `status` is the HTTP status, the message says what was wrong."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.close_connection = False  # set when refused before its body ended: answered with Connection: close


@dataclass(frozen=True)
class Upload:
    """One received file: the client's name (a label only), where it lies, its kind and size."""

    name: str
    path: Path
    kind: str
    size: int


def sniff_kind(head: bytes) -> tuple[str, str] | None:
    """``(kind, suffix)`` of a file from its first bytes (``image``/``video``), or None for anything else."""
    for offset, magic, kind, suffix in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind, suffix
    return None


def _label(name: str | None, index: int) -> str:
    """The client's file name as a printable label (never used as a path)."""
    text = "".join(c for c in (name or "") if c.isprintable())[:_MAX_NAME]
    return text or f"upload-{index}"


class _Sink:
    """One file being received: a 0600 file in the private folder."""

    def __init__(self, directory: Path, name: str | None, index: int) -> None:
        fd, path = tempfile.mkstemp(dir=directory, prefix="up-")  # mkstemp: mode 0600, unpredictable name
        self.file = os.fdopen(fd, "wb")
        self.path = Path(path)
        self.name = _label(name, index)
        self.size = 0
        self.head = b""

    def write(self, data: bytes) -> None:
        if len(self.head) < _HEAD:
            self.head += data[: _HEAD - len(self.head)]
        self.size += len(data)
        self.file.write(data)

    def finish(self) -> Upload:
        """Close the file and type it by content: 400 when empty, 415 when neither an image nor a video."""
        self.file.close()
        if self.size == 0:
            raise UploadError(400, "empty_upload", f"{self.name!r}: empty upload (0 bytes)")
        kind = sniff_kind(self.head)
        if kind is None:
            raise UploadError(
                415, "unsupported_media_type", f"{self.name!r}: not an image or a video (checked by its content)"
            )
        typed = self.path.with_name(self.path.name + kind[1])
        self.path.rename(typed)
        self.path = typed
        return Upload(self.name, typed, kind[0], self.size)


class UploadReceiver:
    """Receives one request's files into `directory`; every file it created is listed in `paths` (for deletion)."""

    def __init__(self, directory: Path, max_bytes: int, max_files: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.received = 0
        self.max_files = max_files
        self.paths: list[Path] = []
        self.sinks: list[_Sink] = []

    def _open(self, name: str | None) -> _Sink:
        if len(self.sinks) >= self.max_files:
            raise UploadError(413, "too_many_files", f"more than {self.max_files} files in one request")
        sink = _Sink(self.directory, name, len(self.sinks))
        self.sinks.append(sink)
        self.paths.append(sink.path)
        return sink

    async def _counted(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The body's chunks, every byte counted against the limit (413 at once beyond it: nothing more is read)."""
        async for chunk in body:
            self.received += len(chunk)
            if self.received > self.max_bytes:
                raise UploadError(
                    413,
                    "too_large",
                    f"request body over the server's limit of {self.max_bytes} bytes (max_upload_mb, multipart "
                    "framing included)",
                )
            yield chunk

    async def receive(self, content_type: str, body: AsyncIterator[bytes], name: str | None = None) -> list[Upload]:
        """Write the body's files (multipart parts with a file name, or the raw body as one file) and type them."""
        body = self._counted(body)
        ctype, params = parse_options_header(content_type or "")
        if ctype == b"multipart/form-data":
            if b"boundary" not in params:
                raise UploadError(400, "bad_request", "multipart/form-data without a boundary")
            await self._receive_multipart(params[b"boundary"], body)
        else:
            sink = self._open(name)
            async for chunk in body:
                sink.write(chunk)
        if not self.sinks:
            raise UploadError(400, "no_file", "no file in the request (send the bytes, or multipart with a file)")
        uploads = []
        for sink in self.sinks:
            upload = sink.finish()
            self.paths.append(upload.path)
            uploads.append(upload)
        return uploads

    async def _receive_multipart(self, boundary: bytes, body: AsyncIterator[bytes]) -> None:
        """Stream multipart parts: file parts go to their own sink, other fields are ignored."""
        state: dict = {"field": b"", "headers": {}, "sink": None}

        def on_header_field(data: bytes, start: int, end: int) -> None:
            state["field"] += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            state["headers"][state["field"].lower()] = (
                state["headers"].get(state["field"].lower(), b"") + data[start:end]
            )

        def on_header_end() -> None:
            state["field"] = b""

        def on_headers_finished() -> None:
            _, disp = parse_options_header(state["headers"].get(b"content-disposition", b""))
            filename = disp.get(b"filename")
            state["sink"] = None if filename is None else self._open(filename.decode("utf-8", "replace"))

        def on_part_data(data: bytes, start: int, end: int) -> None:
            if state["sink"] is not None:  # other fields are discarded (their bytes were counted on arrival)
                state["sink"].write(data[start:end])

        def on_part_begin() -> None:
            state["headers"], state["sink"] = {}, None

        callbacks = {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        }
        parser = MultipartParser(boundary, callbacks)
        try:
            async for chunk in body:
                parser.write(chunk)
            parser.finalize()
        except MultipartParseError as e:
            raise UploadError(400, "bad_multipart", f"malformed multipart/form-data body ({e})") from None

    def delete(self) -> None:
        """Remove every file this request created (called after the request, whatever happened)."""
        for sink in self.sinks:
            if not sink.file.closed:
                sink.file.close()
        for path in self.paths:
            path.unlink(missing_ok=True)
