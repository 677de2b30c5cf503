"""The multipart/form-data body of POST /upload: parts file_metadata_<n> (an Attachable as JSON)
and file_content_<n> (the file), as Intuit documents it and python-quickbooks sends it."""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from . import errors
from .codec import loads

MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # Intuit: an upload request must not exceed 100 MB
METADATA_PART = "file_metadata_"
CONTENT_PART = "file_content_"

_PARAMETER = re.compile(r';\s*([\w*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class UploadedFile:
    data: bytes
    file_name: str | None = None      # the filename of the file_content_<n> part
    content_type: str | None = None   # the Content-Type of the file_content_<n> part
    metadata: dict = field(default_factory=dict)  # the Attachable of file_metadata_<n>, if sent


def uploaded_files(body: bytes, content_type: str | None, max_bytes: int = MAX_UPLOAD_BYTES) -> list[UploadedFile]:
    """The files of an upload request, each with its metadata; a QBOFault when the request is
    too large, not multipart, or has no file part."""
    if len(body) > max_bytes:
        raise errors.business(f"the upload request is {len(body)} bytes; QuickBooks Online takes at most "
                              f"{max_bytes} bytes per upload request", f"{CONTENT_PART}0")
    parts = parse_multipart(body, content_type)
    metadata = {p.name[len(METADATA_PART):]: _metadata(p) for p in parts if p.name.startswith(METADATA_PART)}
    contents = {p.name[len(CONTENT_PART):]: p for p in parts if p.name.startswith(CONTENT_PART)}
    for suffix in metadata:
        if suffix not in contents:
            raise errors.required(f"{CONTENT_PART}{suffix}")
    if not contents:
        raise errors.required(f"{CONTENT_PART}0")
    return [UploadedFile(part.data, part.filename, part.content_type, metadata.get(suffix, {}))
            for suffix, part in contents.items()]


def parse_multipart(body: bytes, content_type: str | None) -> list[Part]:
    """Split a multipart/form-data body into its parts. Lines may end in CRLF (RFC 7578) or LF
    (python-quickbooks); a part with Content-Transfer-Encoding: base64 is decoded."""
    delimiter = b"--" + _boundary(content_type).encode("latin-1")
    segments = body.split(delimiter)
    if len(segments) < 2:
        raise errors.malformed_request("the multipart body has no part opened by its boundary")
    parts = []
    for segment in segments[1:]:
        if segment.startswith(b"--"):  # the closing delimiter
            break
        parts.append(_part(segment))
    return parts


def _boundary(content_type: str | None) -> str:
    media_type, _, parameters = (content_type or "").partition(";")
    boundary = _parameters(";" + parameters).get("boundary")
    if media_type.strip().lower() != "multipart/form-data" or not boundary:
        raise errors.malformed_request("an upload must be sent as multipart/form-data with a boundary")
    return boundary


def _parameters(text: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2).strip().strip('"') for m in _PARAMETER.finditer(text)}


def _part(segment: bytes) -> Part:
    # The rest of the delimiter line opens the segment; the line break before the next delimiter belongs to it.
    segment = segment.split(b"\n", 1)[1] if b"\n" in segment else b""
    segment = segment[:-2] if segment.endswith(b"\r\n") else segment[:-1] if segment.endswith(b"\n") else segment
    head, data = _split_head(segment)
    headers = {}
    for line in head.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    disposition = _parameters(";" + headers.get("content-disposition", "").partition(";")[2])
    if headers.get("content-transfer-encoding", "").lower() == "base64":
        data = _base64(data, disposition.get("name", ""))
    return Part(disposition.get("name", ""), disposition.get("filename"), headers.get("content-type"), data)


def _split_head(segment: bytes) -> tuple[bytes, bytes]:
    """Headers and body, split at the first blank line (CRLF or LF style)."""
    ends = [(index, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (index := segment.find(sep)) >= 0]
    if not ends:
        return segment, b""
    index, length = min(ends)
    return segment[:index], segment[index + length:]


def _base64(data: bytes, name: str) -> bytes:
    try:
        return base64.b64decode(data)
    except (binascii.Error, ValueError):
        raise errors.malformed_request(f"part {name} is not base64 as its Content-Transfer-Encoding says") from None


def _metadata(part: Part) -> dict:
    try:
        metadata = loads(part.data or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.malformed_request(f"part {part.name} is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise errors.malformed_request(f"part {part.name} must be a JSON object (an Attachable)")
    return metadata
