"""Reading untrusted files without surprises: only regular files, bounded zip members and npz/npy arrays
(sizes checked against the header before anything is inflated or allocated), JSON with a nesting limit,
and short printable excerpts of bad values for error messages.

Every failure is an `InputError` with a short message; no other exception type leaves these helpers.
"""
from __future__ import annotations

import ast
import io
import json
import lzma
import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

MAX_MEMBER_BYTES = 1 << 30      # one zip member or npz array, inflated (1 GiB)
MAX_JSON_BYTES = 64 << 20       # a JSON document
MAX_JSON_DEPTH = 64             # nesting of [ and { in a JSON document
MAX_MESSAGE_VALUE = 60          # characters of a bad value quoted in a message
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
              RuntimeError, NotImplementedError, ValueError, KeyError, struct.error, OverflowError)


def excerpt(value: Any, limit: int = MAX_MESSAGE_VALUE) -> str:
    """A short, printable rendering of a bad value (bytes and control characters become '?')."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    text = value if isinstance(value, str) else repr(value)
    text = "".join(c if c.isprintable() and c != "\ufffd" else "?" for c in " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_error(err: BaseException, limit: int = 160) -> str:
    """One short printable line from an exception raised by a third-party reader."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"\\x[0-9a-fA-F]{0,2}", "?", text)  # repr-escaped bytes
    text = re.sub(r"b'([^']*)'", lambda m: "'" + excerpt(m.group(1), 24) + "'", text)
    return excerpt(text, limit)


def require_regular_file(path: str | Path, what: str = "File") -> Path:
    """`path` if it is a regular file (not a FIFO, device or folder, which could block or mislead a reader)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError:
        raise InputError(f"{what} not found: {excerpt(str(path), 200)}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{excerpt(path.name, 100)} is a folder, not a file.")
    if not stat.S_ISREG(mode):
        raise InputError(f"{excerpt(path.name, 100)} is not a regular file (a pipe or device cannot be read).")
    return path


def read_regular_file(path: str | Path, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """The bytes of a regular file no larger than `limit`."""
    path = require_regular_file(path)
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputError(f"{excerpt(path.name, 100)} is {size:,} bytes; over the {limit:,}-byte limit.")
        return path.read_bytes()
    except OSError as err:
        raise InputError(f"Cannot read {excerpt(path.name, 100)}: {err.strerror}.") from err


# ---------------------------------------------------------------------------------------------- zip
def open_zip(source: str | Path | bytes, label: str) -> zipfile.ZipFile:
    """A ZipFile over a path (a regular file) or bytes; damage becomes InputError."""
    if not isinstance(source, (bytes, bytearray)):
        require_regular_file(source)
    try:
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except ZIP_ERRORS as err:
        raise InputError(f"{label} is not a readable archive ({short_error(err)}).") from err


def file_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members of `zf` that are files, not folders (names ending in '/'). `ZipInfo.is_dir()` raises
    IndexError on a member with an empty name (a damaged archive), so the name is looked at here."""
    return [i for i in zf.infolist() if not i.filename.endswith("/")]


def read_member(zf: zipfile.ZipFile, name: str | zipfile.ZipInfo, label: str,
                limit: int = MAX_MEMBER_BYTES) -> bytes:
    """One member's bytes, refusing members whose stated or actual size is over `limit` before inflating."""
    try:
        info = name if isinstance(name, zipfile.ZipInfo) else zf.getinfo(name)
    except KeyError:
        raise InputError(f"{label}: {excerpt(name)} is missing.") from None
    member = excerpt(info.filename)
    if info.file_size > limit:
        raise InputError(f"{label}: {member} would inflate to {info.file_size:,} bytes; over the "
                         f"{limit:,}-byte limit.")
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)  # a member may lie about its size: never read past the limit
    except ZIP_ERRORS as err:
        raise InputError(f"{label}: {member} cannot be read ({short_error(err)}).") from err
    if len(data) > limit:
        raise InputError(f"{label}: {member} inflates past the {limit:,}-byte limit.")
    return data


# ---------------------------------------------------------------------------------------------- npy / npz
def _npy_header(data: bytes | memoryview, label: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran_order, dtype, data offset) of npy bytes, validated; no object arrays."""
    if len(data) < 10 or bytes(data[:6]) != b"\x93NUMPY":
        raise InputError(f"{label} is not an npy array (bad magic).")
    major = data[6]
    if major == 1:
        hlen, start = struct.unpack("<H", bytes(data[8:10]))[0], 10
    elif major in (2, 3) and len(data) >= 12:
        hlen, start = struct.unpack("<I", bytes(data[8:12]))[0], 12
    else:
        raise InputError(f"{label} has an unknown npy version {major}.")
    if hlen > 65536 or start + hlen > len(data):
        raise InputError(f"{label} has a damaged npy header.")
    try:
        header = ast.literal_eval(bytes(data[start:start + hlen]).decode("latin1"))
        shape, fortran, dtype = header["shape"], header["fortran_order"], np.dtype(header["descr"])
    except Exception as err:  # noqa: BLE001 - literal_eval and np.dtype raise many types on garbage
        raise InputError(f"{label} has a damaged npy header ({short_error(err, 80)}).") from err
    if (not isinstance(shape, tuple) or len(shape) > 8 or not all(isinstance(s, int) and 0 <= s < 2 ** 40
                                                                 for s in shape)):
        raise InputError(f"{label} has an impossible npy shape {excerpt(shape)}.")
    if not isinstance(fortran, bool) or dtype.hasobject:
        raise InputError(f"{label} holds Python objects or a damaged header, which cannot be read safely.")
    return tuple(shape), fortran, dtype, start + hlen


def array_from_npy(data: bytes, label: str, limit: int = MAX_MEMBER_BYTES) -> np.ndarray:
    """An array from npy bytes whose header agrees with its length (checked before any allocation)."""
    shape, fortran, dtype, offset = _npy_header(data, label)
    count = 1
    for s in shape:
        count *= s
    nbytes = count * dtype.itemsize
    if nbytes > limit:
        raise InputError(f"{label} claims {nbytes:,} bytes of data; over the {limit:,}-byte limit.")
    if len(data) - offset != nbytes:
        raise InputError(f"{label} holds {len(data) - offset:,} bytes of data but its header says {nbytes:,}.")
    try:
        arr = np.frombuffer(data, dtype, count, offset)
        return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
    except (ValueError, TypeError) as err:
        raise InputError(f"{label} cannot be read as an array ({short_error(err, 80)}).") from err


def npy_shape(path: str | Path) -> tuple[int, ...]:
    """The shape an .npy file's header states (only its first 64 KiB are read)."""
    path = require_regular_file(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError as err:
        raise InputError(f"Cannot read {excerpt(path.name)}: {err.strerror}.") from err
    return _npy_header(head, excerpt(path.name))[0]


def load_npy(path: str | Path, limit: int = MAX_MEMBER_BYTES) -> np.ndarray:
    """A .npy file, its header checked against the file size first."""
    path = require_regular_file(path)
    size = path.stat().st_size
    if size > limit + 65536:
        raise InputError(f"{excerpt(path.name)} is {size:,} bytes; over the {limit:,}-byte limit.")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"Cannot read {excerpt(path.name)}: {err.strerror}.") from err
    return array_from_npy(data, excerpt(path.name), limit)


_OBJECT_DESCR = re.compile(rb"'descr':\s*'\|O'")


def load_npz(source: str | Path | bytes, label: str | None = None, limit: int = MAX_MEMBER_BYTES,
             total_limit: int = 2 * MAX_MEMBER_BYTES, skip_objects: bool = False) -> dict[str, np.ndarray]:
    """Every array of an npz (a path or its bytes), each size-checked before it is inflated.
    `skip_objects` leaves out members holding Python objects (never unpickled) instead of refusing."""
    label = label or excerpt(Path(source).name if not isinstance(source, (bytes, bytearray)) else "npz data")
    with open_zip(source, label) as zf:
        infos = file_members(zf)
        if sum(i.file_size for i in infos) > total_limit:
            raise InputError(f"{label} would inflate to over {total_limit:,} bytes.")
        out: dict[str, np.ndarray] = {}
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            data = read_member(zf, info, label, limit)
            if skip_objects and _OBJECT_DESCR.search(data[:512]):
                continue
            out[key] = array_from_npy(data, f"{label}:{excerpt(key, 40)}", limit)
    return out


# ---------------------------------------------------------------------------------------------- JSON
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def json_depth(data: bytes) -> int:
    """The deepest nesting of [ and { outside strings."""
    stripped = _STRING.sub(b"", data)
    arr = np.frombuffer(stripped, np.uint8)
    steps = np.zeros(arr.shape, np.int32)
    steps[(arr == ord("[")) | (arr == ord("{"))] = 1
    steps[(arr == ord("]")) | (arr == ord("}"))] = -1
    return int(np.cumsum(steps).max()) if steps.size else 0


def check_text_nesting(text: str, label: str, opening: str, closing: str, max_depth: int) -> None:
    """Refuse text holding control characters (binary data) or nested deeper than `max_depth`."""
    bad = re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise InputError(f"{label} holds binary data (a control character on line {line}); it is not a text file.")
    arr = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    steps = (arr == ord(opening)).astype(np.int32) - (arr == ord(closing)).astype(np.int32)
    if steps.size and int(np.cumsum(steps).max()) > max_depth:
        raise InputError(f"{label} is nested more than {max_depth} levels deep.")


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{excerpt(text, 24)} is out of range")
    return value


def _int(text: str) -> int | float:
    return int(text) if len(text) <= 18 else _float(text)  # huge integers become floats, or are refused


def loads_json(data: bytes | str, label: str, max_depth: int = MAX_JSON_DEPTH,
               limit: int = MAX_JSON_BYTES) -> Any:
    """Parsed JSON, refusing documents that are too large or too deeply nested, NaN/Infinity and bad UTF-8."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > limit:
        raise InputError(f"{label} is {len(raw):,} bytes; JSON over {limit:,} bytes is refused.")
    if json_depth(raw) > max_depth:
        raise InputError(f"{label} is nested more than {max_depth} levels deep; it is not a file we write.")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_int=_int,
                          parse_float=_float)
    except (UnicodeDecodeError, ValueError, RecursionError, OverflowError) as err:
        raise InputError(f"{label} is not valid JSON ({short_error(err, 120)}).") from err


def read_bytes_limited(path: str | Path, limit: int = MAX_JSON_BYTES) -> bytes:
    """A small regular file's bytes (manifests, sidecars), refused over `limit`."""
    path = require_regular_file(path)
    if path.stat().st_size > limit:
        raise InputError(f"{excerpt(path.name)} is over {limit:,} bytes; too large for this kind of file.")
    try:
        return path.read_bytes()
    except OSError as err:
        raise InputError(f"Cannot read {excerpt(path.name)}: {err.strerror}.") from err


def read_json(path: str | Path, label: str | None = None, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON file (regular files only), parsed with `loads_json`'s limits."""
    path = require_regular_file(path)
    label = label or excerpt(path.name)
    if path.stat().st_size > MAX_JSON_BYTES:
        raise InputError(f"{label} is over {MAX_JSON_BYTES:,} bytes; too large for a JSON file we read.")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"Cannot read {label}: {err.strerror}.") from err
    return loads_json(data, label, max_depth)
