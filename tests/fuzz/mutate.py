"""A seeded mutator: damaged copies of valid files (bytes, npz/npy arrays, zips, JSON, folders).

Every function takes a `random.Random`, so a case is reproducible from (target, seed, index).
"""
from __future__ import annotations

import io
import json
import random
import re
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

BOMB_BYTES = 1536 << 20  # what a bomb member inflates to (1.5 GiB)
_BOMB_CACHE: dict[int, bytes] = {}

INTERESTING_NUMBERS = [b"0", b"-1", b"-2147483649", b"2147483648", b"4294967296", b"99999999999", b"1e308", b"inf",
                       b"-inf", b"nan", b"NaN", b"1" * 400, b"0x10", b"1e-320", b"18446744073709551617"]
FLOAT_SPECIALS = [np.nan, np.inf, -np.inf, 1e38, -1e38, 3.4e38, 1e-45]


def deflated_zeros(size: int = BOMB_BYTES) -> bytes:
    """A raw deflate stream that inflates to `size` zero bytes (about 1/1000 of its size)."""
    if size not in _BOMB_CACHE:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = bytes(1 << 22)
        out = [comp.compress(chunk) for _ in range(size >> 22)]
        out.append(comp.flush())
        _BOMB_CACHE[size] = b"".join(out)
    return _BOMB_CACHE[size]


def zip_with_bomb(members: dict[str, bytes], bomb_name: str, header: bytes = b"") -> bytes:
    """A zip holding `members` with `bomb_name` replaced by a deflated member that inflates to `header` plus
    BOMB_BYTES zeros. Its CRC is left wrong (computing it costs seconds): a loader must refuse it by size,
    before inflating, so the CRC check at the end is never what stops it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            if name != bomb_name:
                zf.writestr(name, data)
    data = buf.getvalue()
    end = data.rfind(b"PK\x05\x06")
    count, cd_size, cd_offset = struct.unpack("<HII", data[end + 10:end + 20])
    body, central = data[:cd_offset], data[cd_offset:cd_offset + cd_size]
    stream = b""
    if header:  # a non-final, byte-aligned block; the cached zeros stream follows it
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        stream = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)
    stream += deflated_zeros()
    name_b, size = bomb_name.encode(), len(header) + BOMB_BYTES
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, 0, len(stream), size, len(name_b), 0)
    entry = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, 0, len(stream), size,
                        len(name_b), 0, 0, 0, 0, 0, len(body))
    new_body = body + local + name_b + stream
    new_central = central + entry + name_b
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count + 1, count + 1, len(new_central), len(new_body), 0)
    return new_body + new_central + eocd


# ---------------------------------------------------------------------------------------------- bytes
def flip_bits(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 2, 4, 16, 64])):
        if out:
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[:rng.randrange(max(1, len(data)))]


def splice(rng: random.Random, data: bytes) -> bytes:
    """Delete, duplicate or insert a random chunk."""
    if not data:
        return bytes(rng.randrange(256) for _ in range(16))
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.choice([1, 4, 16, 256, 4096]))
    kind = rng.randrange(3)
    if kind == 0:
        return data[:i] + data[j:]
    if kind == 1:
        return data[:j] + data[i:j] * rng.choice([1, 2, 50]) + data[j:]
    return data[:i] + bytes(rng.randrange(256) for _ in range(j - i)) + data[i:]


def tamper_numbers(rng: random.Random, data: bytes, window: int = 4096) -> bytes:
    """Replace numbers in a text header (the first `window` bytes) with hostile ones."""
    head, tail = data[:window], data[window:]
    spots = [m.span() for m in re.finditer(rb"-?\d+(\.\d+)?(e-?\d+)?", head)]
    if not spots:
        return flip_bits(rng, data)
    for _ in range(rng.choice([1, 1, 2, 3])):
        a, b = rng.choice(spots)
        head = head[:a] + rng.choice(INTERESTING_NUMBERS) + head[b:]
        spots = [m.span() for m in re.finditer(rb"-?\d+(\.\d+)?(e-?\d+)?", head)] or [(0, 0)]
    return head + tail


def overwrite_words(rng: random.Random, data: bytes) -> bytes:
    """Overwrite 4-byte words with float NaN/Inf/huge or hostile integers (binary headers and payloads)."""
    out = bytearray(data)
    for _ in range(rng.choice([1, 2, 8])):
        if len(out) < 4:
            break
        i = rng.randrange(min(len(out) - 3, 64)) if rng.random() < 0.5 else rng.randrange(len(out) - 3)
        if rng.random() < 0.5:
            word = struct.pack("<f", rng.choice(FLOAT_SPECIALS))
        else:
            word = struct.pack("<I", rng.choice([0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 12_000_000, 1 << 28]))
        out[i:i + 4] = word
    return bytes(out)


def mutate_bytes(rng: random.Random, data: bytes, text_header: bool = False) -> bytes:
    ops = [flip_bits, truncate, splice, overwrite_words] + ([tamper_numbers] * 2 if text_header else [])
    return rng.choice(ops)(rng, data)


# ---------------------------------------------------------------------------------------------- arrays
def mutate_array(rng: random.Random, arr: np.ndarray) -> np.ndarray:
    """Wrong shape, wrong dtype, NaN/Inf, empty, huge values."""
    kind = rng.randrange(8)
    if kind == 0 and arr.size and np.issubdtype(arr.dtype, np.floating):
        out = arr.copy()
        out.flat[rng.randrange(out.size)] = rng.choice(FLOAT_SPECIALS)
        return out
    if kind == 1:
        return arr.reshape(-1) if arr.ndim != 1 else arr.reshape(1, -1)
    if kind == 2:
        return arr[: rng.randrange(max(1, arr.shape[0]))] if arr.ndim else arr
    if kind == 3:
        return np.zeros((0,) + arr.shape[1:], arr.dtype) if arr.ndim else np.zeros(0)
    if kind == 4:
        return arr.astype(rng.choice([np.int8, np.uint16, np.complex64, np.bool_, "U3", np.float16]))
    if kind == 5:
        return np.array(rng.choice(["walk", b"\xff\xfe", 1e308, -7, True]))
    if kind == 6 and arr.ndim:
        return np.concatenate([arr] * rng.choice([2, 3]), axis=-1)
    if arr.dtype.kind not in "fiu":
        return arr[::-1].copy() if arr.ndim else arr
    return arr * rng.choice([1e30, -1e30, 0.0, 1e-30])


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def claim_shape(data: bytes, rng: random.Random) -> bytes:
    """An npy whose header claims a huge or negative shape while the data stays small."""
    m = re.search(rb"'shape': \(([^)]*)\)", data[:512])
    if not m:
        return flip_bits(rng, data)
    claim = rng.choice([b"(100000000, 165)", b"(2000000000,)", b"(-5, 165)", b"(12000000, 322)",
                        b"(99999999999999999999,)", b"(" + b"4, " * 36 + b")"])
    head_len = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + head_len]
    header = header[:m.start() - 10] + b"'shape': " + claim + header[m.end() - 10:]
    header = header.rstrip(b" \n")
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + b" " * (pad % 64) + b"\n"
    return data[:8] + struct.pack("<H", len(header)) + header + data[10 + head_len:]


def mutate_npz(rng: random.Random, data: bytes) -> bytes:
    """A damaged npz: array-level, npy-header-level, zip-level or byte-level."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception:
        return mutate_bytes(rng, data)
    kind = rng.randrange(10)
    if kind <= 3 or not arrays:
        return mutate_bytes(rng, data)
    name = rng.choice(sorted(arrays))
    members = {f"{k}.npy": npy_bytes(v) for k, v in arrays.items()}
    if kind == 4:
        arrays[name] = mutate_array(rng, arrays[name])
        members[f"{name}.npy"] = npy_bytes(arrays[name])
    elif kind == 5:
        members[f"{name}.npy"] = claim_shape(members[f"{name}.npy"], rng)
    elif kind == 6:
        members[f"{name}.npy"] = rng.choice([b"not an array", b"\x93NUMPY\x01\x00\xff\xff{",
                                             mutate_bytes(rng, members[f"{name}.npy"])])
    elif kind == 7:
        del members[f"{name}.npy"]
    elif kind == 8:  # a member whose npy header is honest about a 1.5 GiB array it inflates to
        header = npy_bytes(np.zeros(1, np.uint8))
        head_len = struct.unpack("<H", header[8:10])[0]
        text = header[10:10 + head_len].replace(b"(1,)", b"(%d,)" % BOMB_BYTES).rstrip(b" \n")
        text = text.ljust(head_len - 1) + b"\n"
        return zip_with_bomb(members, f"{name}.npy", header[:10] + text)
    else:
        return zip_level(rng, members)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])) as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


def zip_level(rng: random.Random, members: dict[str, bytes]) -> bytes:
    """Zips that are hostile as archives: odd compression, encryption flag, bad names, duplicate names."""
    buf = io.BytesIO()
    kind = rng.randrange(4)
    with zipfile.ZipFile(buf, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are made on purpose
        for k, v in members.items():
            info = zipfile.ZipInfo(k)
            if kind == 0:
                info.compress_type = zipfile.ZIP_LZMA if rng.random() < 0.5 else zipfile.ZIP_BZIP2
            if kind == 3:
                zf.writestr(info, v)
            zf.writestr(info, v)
    out = bytearray(buf.getvalue())
    if kind == 1:  # set the "encrypted" flag everywhere
        for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            for m in re.finditer(re.escape(sig), out):
                out[m.start() + off] |= 1
    elif kind == 2:  # an unknown compression method
        for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
            for m in re.finditer(re.escape(sig), out):
                out[m.start() + off:m.start() + off + 2] = struct.pack("<H", 99)
    return bytes(out)


# ---------------------------------------------------------------------------------------------- JSON
def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth if depth % 2 else '{"a":' * depth + "1" + "}" * depth


def mutate_json(rng: random.Random, text: str) -> str:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return mutate_bytes(rng, text.encode("utf-8", "replace"), True).decode("utf-8", "replace")
    kind = rng.randrange(8)
    if kind == 0:
        return mutate_bytes(rng, text.encode(), True).decode("utf-8", "replace")
    paths = list(_json_paths(doc))
    if not paths:
        return deep_json(100_000)
    parent, key = rng.choice(paths)
    if kind == 1:
        return _with_value(doc, parent, key, deep_json(rng.choice([500, 100_000])))
    value = rng.choice([None, "x" * rng.choice([3, 200_000]), -1, 10 ** 400, 1e308, [], {}, [1, 2], {"a": 1},
                        True, "NaN", [float("nan")] * 3, [[1, 2, 3]] * 2, list(range(5000))])
    if kind == 2:
        return _with_value(doc, parent, key, "NaN" if rng.random() < 0.5 else "Infinity")
    if kind == 3 and isinstance(parent, dict):
        del parent[key]
        return json.dumps(doc)
    if kind == 4 and isinstance(parent[key], list) and parent[key]:
        parent[key] = parent[key][: rng.randrange(len(parent[key]))] if rng.random() < 0.5 else parent[key] * 3
        return json.dumps(doc)
    parent[key] = value
    return json.dumps(doc)


def _with_value(doc, parent, key, raw: str) -> str:
    """`doc` as JSON with parent[key] replaced by the raw JSON text `raw` (may be invalid for json.dumps)."""
    marker = "__FUZZ_MARKER__"
    parent[key] = marker
    return json.dumps(doc).replace(f'"{marker}"', raw, 1)


def _json_paths(node, depth: int = 0):
    if depth > 6:
        return
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for k, v in items:
        yield node, k
        if isinstance(v, (dict, list)):
            yield from _json_paths(v, depth + 1)


def nest_braces(rng: random.Random, data: bytes) -> bytes:
    """A BVH whose hierarchy gains a chain of nested joints (hundreds to a hundred thousand deep)."""
    at = data.find(b"{")
    if at < 0:
        return flip_bits(rng, data)
    depth = rng.choice([300, 5000, 100_000])
    chain = b"".join(b"JOINT j%d\n{\nOFFSET 0 0 0\nCHANNELS 0\n" % i for i in range(depth))
    return data[:at + 1] + b"\n" + chain + b"End Site\n{\nOFFSET 0 0 0\n}\n" + b"}\n" * depth + data[at + 1:]


# ---------------------------------------------------------------------------------------------- files and folders
def mutate_file(rng: random.Random, src: Path, dst: Path) -> None:
    """A damaged copy of one file, the mutation chosen by its kind."""
    data = src.read_bytes()
    name = src.name.lower()
    if name.endswith(".npz"):
        out = mutate_npz(rng, data)
    elif name.endswith(".npy"):
        r = rng.randrange(4)
        if r == 0:
            out = claim_shape(data, rng)
        elif r == 1:
            out = npy_bytes(mutate_array(rng, np.load(io.BytesIO(data), allow_pickle=False)))
        else:
            out = mutate_bytes(rng, data)
    elif name.endswith(".json"):
        out = mutate_json(rng, data.decode("utf-8", "replace")).encode("utf-8", "replace")
    elif name.endswith((".zip", ".avsproj")):
        out = mutate_zip(rng, data)
    elif name.endswith(".bvh") and rng.random() < 0.15:
        out = nest_braces(rng, data)
    elif name.endswith((".ply", ".bvh")):
        out = mutate_bytes(rng, data, text_header=True)
    else:
        out = mutate_bytes(rng, data)
    dst.write_bytes(out)


def mutate_zip(rng: random.Random, data: bytes) -> bytes:
    """A damaged archive: a member mutated as its own kind, a bomb, a hostile name, or archive-level damage."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    kind = rng.randrange(8)
    if kind <= 1:
        return mutate_bytes(rng, data)
    name = rng.choice(sorted(members))
    if kind == 2:
        return zip_with_bomb(members, name)
    if kind == 3:
        return zip_level(rng, members)
    if kind == 4:
        members[rng.choice(["../../escape.ply", "/etc/passwd", "items/0/../../x.ply", "a" * 300])] = members[name]
        if name.endswith(".json"):
            doc = members[name].decode("utf-8", "replace")
            for m in re.findall(r'"(items/[^"]+|[^"]+\.ply)"', doc)[:3]:
                doc = doc.replace(m, rng.choice(["../../escape.ply", "/etc/hostname", "items/0/../../../x.ply"]))
            members[name] = doc.encode()
    else:
        tmp = random.Random(rng.random())
        suffix = Path(name).suffix.lower()
        if suffix == ".json":
            members[name] = mutate_json(tmp, members[name].decode("utf-8", "replace")).encode("utf-8", "replace")
        elif suffix == ".npz":
            members[name] = mutate_npz(tmp, members[name])
        elif suffix == ".npy":
            members[name] = claim_shape(members[name], tmp) if tmp.random() < 0.4 else mutate_bytes(tmp, members[name])
        else:
            members[name] = mutate_bytes(tmp, members[name], text_header=suffix == ".ply")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


def mutate_tree(rng: random.Random, src: Path, dst: Path) -> None:
    """A copy of folder `src` with one or two of its files damaged (or removed, or replaced by a folder)."""
    import shutil
    shutil.copytree(src, dst)
    files = sorted(p for p in dst.rglob("*") if p.is_file())
    for _ in range(rng.choice([1, 1, 2])):
        if not files:
            break
        victim = rng.choice(files)
        r = rng.random()
        if r < 0.05:
            victim.unlink()
            files.remove(victim)
        elif r < 0.08:
            victim.unlink()
            victim.mkdir()
            files.remove(victim)
        else:
            mutate_file(rng, victim, victim)
