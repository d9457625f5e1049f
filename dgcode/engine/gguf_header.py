"""A bounded, single-pass reader of a GGUF file's header: the few keys dgcode needs, every size checked.

``gguf.GGUFReader`` builds every field, including the 151,936-entry token
arrays of Qwen-family vocabularies, which took seconds before llama.cpp even
started; and on hostile headers it could loop or allocate without bound.
This reader walks the header once over a memory map:

- scalars and strings are kept (strings only up to ``MAX_STRING_BYTES``);
- arrays are *skipped*, with only their element type and count kept: a
  fixed-size element array by arithmetic, a string array by walking its
  length prefixes, each checked to lie inside the file; nested arrays (an
  element type of ARRAY) are refused;
- tensor records are walked to find where the tensor data must end, so a
  cut download is caught;
- each key's byte offset is kept, which is all an aliased copy needs
  (engine/alias.py rewrites names in place).

Every count and length is checked against what is left of the file before
it is used, so a header can never make this allocate or loop more than its
own size allows.  Any problem raises ``ModelFileError`` with a message whose
header text is escaped (a key or value may hold terminal escape sequences).
The path must be a regular file: a FIFO or device is refused before it is
opened, so it cannot block.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

from dgcode.engine.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_KEY_BYTES = 1 << 16
MAX_STRING_BYTES = 16 << 20
"""Longest string value kept (a chat template is a few KB); longer ones are skipped, not read."""
MAX_DIMS = 8
DEFAULT_ALIGNMENT = 32

UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
SCALAR_FORMATS = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i", FLOAT32: "<f",
                  BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}
INTEGER_TYPES = frozenset({UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64})
TYPE_NAMES = {UINT8: "uint8", INT8: "int8", UINT16: "uint16", INT16: "int16", UINT32: "uint32", INT32: "int32",
              FLOAT32: "float32", BOOL: "bool", STRING: "string", ARRAY: "array", UINT64: "uint64",
              INT64: "int64", FLOAT64: "float64"}

# ggml tensor types: (elements per block, bytes per block). Checked against gguf's table by a test.
GGML_BLOCK_SIZES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}


def escaped(text: str) -> str:
    """``text`` with control characters written as escapes, safe to show in a terminal."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


@dataclass(frozen=True)
class ArrayInfo:
    """An array value that was skipped: its element type and length."""

    element_type: int
    count: int


@dataclass
class GGUFHeader:
    """What the header holds, as far as dgcode reads it."""

    path: Path
    size_bytes: int
    version: int
    values: dict[str, object] = field(default_factory=dict)
    """Scalars and strings by key (an ``ArrayInfo`` for an array; a short array of integers is kept as a list)."""
    types: dict[str, int] = field(default_factory=dict)
    """Each key's value type code."""
    key_offsets: dict[str, int] = field(default_factory=dict)
    """Byte offset of each key's name (after its u64 length)."""
    value_offsets: dict[str, int] = field(default_factory=dict)
    """Byte offset of each string value's bytes (after its u64 length)."""
    tensor_data_end: int = 0
    """Where the last tensor's bytes end; more than ``size_bytes`` means the file is cut."""


SMALL_INT_ARRAY = 4096
"""Integer arrays up to this many elements are kept (per-layer head counts); longer ones are only counted."""


class _Cursor:
    """A position in the mapped file; every read checks that its bytes exist."""

    def __init__(self, data: mmap.mmap | bytes, path: Path):
        self.data = data
        self.size = len(data)
        self.at = 0
        self.path = path

    def need(self, count: int, what: str) -> None:
        if count < 0 or self.at + count > self.size:
            raise ModelFileError(f"model file is truncated or corrupt ({what} runs past the end of the file at "
                                 f"byte {self.at:,}): {self.path}")

    def unpack(self, fmt: str, what: str):
        width = struct.calcsize(fmt)
        self.need(width, what)
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += width
        return value

    def string(self, what: str, limit: int) -> tuple[str | None, int]:
        """A u64-length string (None where longer than ``limit``, skipped) and where its bytes start."""
        length = self.unpack("<Q", what)
        self.need(length, what)
        start = self.at
        self.at += length
        if length > limit:
            return None, start
        try:
            return bytes(self.data[start:start + length]).decode("utf-8"), start
        except UnicodeDecodeError:
            raise ModelFileError(f"model file is corrupt ({what} at byte {start:,} is not UTF-8): "
                                 f"{self.path}") from None


def _check_regular_file(path: Path) -> int:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ModelFileError(f"model file not found: {path}") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelFileError(f"model path is a folder, not a GGUF file: {path}")
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"model path is not a regular file (a pipe or device?): {path}")
    if not os.access(path, os.R_OK):
        raise ModelFileError(f"model file is not readable: {path}")
    return info.st_size


def read_gguf_header(path: str | os.PathLike[str]) -> GGUFHeader:
    """Read and check the header of the GGUF file at ``path``; ModelFileError on any problem."""
    path = Path(path)
    size = _check_regular_file(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8 or head[:4] != GGUF_MAGIC:
                raise ModelFileError(f"not a GGUF model file (bad magic bytes): {path}")
            (version,) = struct.unpack("<I", head[4:8])
            if version not in SUPPORTED_VERSIONS:
                raise ModelFileError(f"unsupported GGUF version {version} in {path} (supported: 2, 3)")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _parse(data, path, size, version)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # mmap of a file that shrank, and the like
        raise ModelFileError(f"model file is truncated or corrupt ({exc}): {path}") from None


def _parse(data: mmap.mmap, path: Path, size: int, version: int) -> GGUFHeader:
    cursor = _Cursor(data, path)
    cursor.at = 8
    n_tensors = cursor.unpack("<Q", "the tensor count")
    n_kv = cursor.unpack("<Q", "the key count")
    # the smallest key-value record is 8 + 1 + 4 + 1 bytes, a tensor record 8 + 1 + 4 + 8 + 4 + 8
    if n_kv * 14 > size or n_tensors * 33 > size:
        raise ModelFileError(f"model file is corrupt (it claims {n_kv:,} keys and {n_tensors:,} tensors, more "
                             f"than its {size:,} bytes can hold): {path}")
    header = GGUFHeader(path, size, version)
    for _ in range(n_kv):
        key_start = cursor.at + 8
        key, _start = cursor.string("a key name", MAX_KEY_BYTES)
        if key is None:
            raise ModelFileError(f"model file is corrupt (a key name longer than {MAX_KEY_BYTES:,} bytes at byte "
                                 f"{key_start:,}): {path}")
        value_type = cursor.unpack("<I", f"the type of {escaped(key)}")
        header.key_offsets[key] = key_start
        header.types[key] = value_type
        header.values[key] = _value(cursor, header, key, value_type)
    alignment = header.values.get("general.alignment", DEFAULT_ALIGNMENT)
    if header.types.get("general.alignment", UINT32) not in INTEGER_TYPES or not isinstance(alignment, int) \
            or alignment <= 0 or alignment & (alignment - 1):
        raise ModelFileError(f"model file is corrupt (general.alignment {escaped(repr(alignment))} is not a power "
                             f"of two): {path}")
    ends = []
    for _ in range(n_tensors):
        name, _start = cursor.string("a tensor name", MAX_KEY_BYTES)
        shown = escaped(name or "?")
        dims = cursor.unpack("<I", f"the dimensions of tensor {shown}")
        if dims > MAX_DIMS:
            raise ModelFileError(f"model file is corrupt (tensor {shown} has {dims} dimensions): {path}")
        elements = 1
        for _d in range(dims):
            elements *= cursor.unpack("<Q", f"a dimension of tensor {shown}")
        ggml_type = cursor.unpack("<I", f"the type of tensor {shown}")
        offset = cursor.unpack("<Q", f"the offset of tensor {shown}")
        if ggml_type not in GGML_BLOCK_SIZES:
            raise ModelFileError(f"model file has tensor {shown} of unknown type {ggml_type}: {path}")
        block, block_bytes = GGML_BLOCK_SIZES[ggml_type]
        ends.append(offset + -(-elements // block) * block_bytes)
    data_start = -(-cursor.at // alignment) * alignment
    header.tensor_data_end = data_start + max(ends, default=0)
    return header


def _value(cursor: _Cursor, header: GGUFHeader, key: str, value_type: int) -> object:
    shown = escaped(key)
    if value_type in SCALAR_FORMATS:
        return cursor.unpack(SCALAR_FORMATS[value_type], f"the value of {shown}")
    if value_type == STRING:
        text, start = cursor.string(f"the value of {shown}", MAX_STRING_BYTES)
        header.value_offsets[key] = start
        return text
    if value_type != ARRAY:
        raise ModelFileError(f"model file is corrupt ({shown} has unknown value type {value_type}): {cursor.path}")
    element_type = cursor.unpack("<I", f"the element type of {shown}")
    count = cursor.unpack("<Q", f"the length of {shown}")
    if element_type in SCALAR_FORMATS:
        fmt = SCALAR_FORMATS[element_type]
        width = struct.calcsize(fmt)
        cursor.need(count * width, f"the array {shown}")
        if element_type in INTEGER_TYPES and count <= SMALL_INT_ARRAY:
            kept = list(struct.unpack_from(f"<{count}{fmt[1]}", cursor.data, cursor.at))
            cursor.at += count * width
            return kept
        cursor.at += count * width
        return ArrayInfo(element_type, count)
    if element_type == STRING:
        cursor.need(count * 8, f"the array {shown}")  # each element has at least its u64 length
        data, at, end = cursor.data, cursor.at, cursor.size
        unpack = struct.Struct("<Q").unpack_from
        for _ in range(count):
            if at + 8 > end:
                break
            at += 8 + unpack(data, at)[0]
            if at > end:
                break
        else:
            cursor.at = at
            return ArrayInfo(STRING, count)
        raise ModelFileError(f"model file is truncated or corrupt (the array {shown} runs past the end of the "
                             f"file): {cursor.path}")
    kind = "nested arrays are not supported" if element_type == ARRAY else f"unknown element type {element_type}"
    raise ModelFileError(f"model file is corrupt ({shown}: {kind}): {cursor.path}")


def type_name(code: int) -> str:
    return TYPE_NAMES.get(code, f"type {code}")
