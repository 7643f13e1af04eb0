"""Reads and writes `.safetensors` files with torch alone (no `safetensors` package).

Format: an 8-byte little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}, "__metadata__": {…}}`,
then the data section. Files are memory-mapped copy-on-write, so tensors read from them cost page cache, not copies.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import mmap
import os
import struct
from typing import Dict, Iterable, Mapping, Optional, Tuple

import torch

DTYPES = {
    "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 100_000_000


class SafeTensorsError(ValueError):
    """A file that is not a valid safetensors file; the message names the file and the problem."""


class SafeTensorsFile:
    """A memory-mapped safetensors file: `header` (name → dtype, shape, offsets), `metadata`, `tensor(name)`."""

    def __init__(self, path: str):
        self.path = path
        size = os.path.getsize(path)
        if size < 8:
            raise SafeTensorsError(f"{path}: {size} bytes, too short for a safetensors file")
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > MAX_HEADER or 8 + n > size:
                raise SafeTensorsError(f"{path}: header length {n} does not fit the file ({size} bytes); the file is truncated or not safetensors")
            try:
                header = json.loads(f.read(n))
            except ValueError as e:
                raise SafeTensorsError(f"{path}: header is not valid JSON ({e})") from None
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if size > 0 else None
        self.metadata: Dict[str, str] = header.pop("__metadata__", {}) or {}
        self.data_start = 8 + n
        self.header: Dict[str, dict] = header
        data_len = size - self.data_start
        for name, info in header.items():
            if info.get("dtype") not in DTYPES:
                raise SafeTensorsError(f"{path}: tensor {name!r} has unsupported dtype {info.get('dtype')!r}")
            b, e = info["data_offsets"]
            count = 1
            for s in info["shape"]:
                count *= s
            want = count * torch.empty((), dtype=DTYPES[info["dtype"]]).element_size()
            if not (0 <= b <= e <= data_len) or e - b != want:
                raise SafeTensorsError(f"{path}: tensor {name!r} offsets [{b}, {e}] do not hold shape {info['shape']} {info['dtype']} in a data section of {data_len} bytes")

    def names(self) -> Iterable[str]:
        return self.header.keys()

    def shape(self, name: str) -> Tuple[int, ...]:
        return tuple(self._info(name)["shape"])

    def _info(self, name: str) -> dict:
        if name not in self.header:
            raise SafeTensorsError(f"{self.path}: no tensor named {name!r}")
        return self.header[name]

    def tensor(self, name: str) -> torch.Tensor:
        """The tensor as stored (dtype and shape), backed by the mapping (no copy)."""
        info = self._info(name)
        b, e = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        if e == b:
            return torch.empty(info["shape"], dtype=dtype)
        t = torch.frombuffer(self._map, dtype=dtype, count=(e - b) // torch.empty((), dtype=dtype).element_size(),
                             offset=self.data_start + b)
        return t.view(info["shape"])

    def tensors(self) -> Dict[str, torch.Tensor]:
        return {n: self.tensor(n) for n in self.header}


def serialize_header(tensors: Mapping[str, Tuple[str, Tuple[int, ...]]], metadata: Optional[Mapping[str, str]] = None) -> Tuple[bytes, Dict[str, Tuple[int, int]]]:
    """The header bytes (length prefix included, padded so the data starts 8-byte aligned) for tensors given as
    name → (dtype name, shape), laid out in sorted name order (as dnd writes them); and each tensor's offsets."""
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offsets: Dict[str, Tuple[int, int]] = {}
    offset = 0
    for name in sorted(tensors):
        dtype, shape = tensors[name]
        count = 1
        for s in shape:
            count *= s
        nbytes = count * torch.empty((), dtype=DTYPES[dtype]).element_size()
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offsets[name] = (offset, offset + nbytes)
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    raw += b" " * ((8 - (8 + len(raw)) % 8) % 8)
    return struct.pack("<Q", len(raw)) + raw, offsets


def save(tensors: Mapping[str, torch.Tensor], path: str, metadata: Optional[Mapping[str, str]] = None) -> str:
    """Writes `tensors` (as their dtypes, contiguous, little-endian) to `path` atomically (temp name, fsync, rename);
    returns the file's SHA-256 (hex)."""
    plain = {n: t.detach().to("cpu").contiguous() for n, t in tensors.items()}
    head, _ = serialize_header({n: (NAMES[t.dtype], tuple(t.shape)) for n, t in plain.items()}, metadata)
    h = hashlib.sha256(head)
    tmp = f"{os.path.dirname(os.path.abspath(path))}/.{os.path.basename(path)}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(head)
        for name in sorted(plain):
            t = plain[name]
            data = raw_bytes(t)
            h.update(data)
            f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))
    return h.hexdigest()


def raw_bytes(t: torch.Tensor) -> memoryview:
    """The bytes of a contiguous CPU tensor, little-endian, as a view of its memory (valid while `t` lives)."""
    assert t.is_contiguous() and t.device.type == "cpu", "raw_bytes needs a contiguous CPU tensor"
    if t.numel() == 0:
        return memoryview(b"")
    n = t.numel() * t.element_size()
    return memoryview((ctypes.c_char * n).from_address(t.data_ptr())).cast("B")


def sha256_file(path: str, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


def fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
