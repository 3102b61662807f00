"""One door for every Gaussian-splat file format: `read_gaussians`, `write_gaussians`, `FORMATS`.

The format comes from `format=` when given, else from the file name (`.compressed.ply`, `.ply`,
`.splat`, `.spz`, `.ksplat`), and a `.ply` is told apart from a compressed PLY by its header (a
`chunk` element). Reading a file with an unknown extension sniffs its first bytes. See FORMATS.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import InputError
from ..gaussians import GaussianSet
from .safe import short_error


@dataclass(frozen=True)
class FormatInfo:
    """What the studio knows about one splat format (also drives the GUI's file dialogs)."""

    name: str                    # key used by `format=` and the CLI
    label: str                   # human name for dialogs
    extensions: tuple[str, ...]  # first one is the default for writing (a .ply holding a `chunk` element
                                 # is read as compressed whatever its name)
    can_read: bool
    can_write: bool
    sh_degrees: str              # SH bands it keeps, e.g. "0–3" or "0"
    keeps_sh_bands: bool         # True when bands above 0 survive a write
    quantised: bool              # True when a write loses precision
    notes: str = ""


FORMATS: tuple[FormatInfo, ...] = (
    FormatInfo("ply", "3DGS PLY (INRIA)", (".ply",), True, True, "0–3", True, False,
               "float32; the standard layout every viewer reads"),
    FormatInfo("compressed_ply", "SuperSplat compressed PLY", (".compressed.ply",), True, True, "0–3", True, True,
               "256-splat chunks: 11/10/11-bit positions and log scales, 8-bit colour and opacity, "
               "2+30-bit rotation, 8-bit SH in [-4, 4]"),
    FormatInfo("splat", "antimatter15 .splat", (".splat",), True, True, "0", False, True,
               "float32 positions and scales; 8-bit colour (clamped 0..1), opacity and rotation"),
    FormatInfo("spz", "Niantic .spz", (".spz",), True, True, "0–3", True, True,
               "24-bit fixed-point positions, 8-bit everything else; SH bands 1–3 in [-1, 1) at 5/4 bits; "
               "versions 1–4 read, 2–4 written (default 3; 4 needs the zstandard package)"),
    FormatInfo("ksplat", "GaussianSplats3D .ksplat", (".ksplat",), True, False, "0–2", True, True,
               "read only; compression levels 0, 1 and 2"),
)
_BY_NAME = {f.name: f for f in FORMATS}


def format_info(name: str) -> FormatInfo:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InputError(f"Unknown splat format '{name}'; choose one of {', '.join(_BY_NAME)}.") from None


def file_dialog_filter(mode: str = "read") -> str:
    """A Qt file-dialog filter string for the formats that can be read (mode="read") or written ("write")."""
    usable = [f for f in FORMATS if (f.can_read if mode == "read" else f.can_write)]
    parts = []
    if mode == "read":
        allexts = sorted({e for f in usable for e in f.extensions if e.count(".") == 1})
        parts.append("Gaussian splats (" + " ".join(f"*{e}" for e in allexts) + ")")
    for f in usable:
        parts.append(f"{f.label} (" + " ".join(f"*{e}" for e in f.extensions) + ")")
    return ";;".join(parts)


# ---------------------------------------------------------------------- detection
def _ply_element_names(head: bytes) -> list[str] | None:
    """Element names of a PLY header held in `head`, or None if `head` is not a PLY header."""
    if not head.startswith(b"ply"):
        return None
    end = head.find(b"end_header")
    text = head[: end if end >= 0 else len(head)].decode("ascii", "replace")
    return [ln.split()[1] for ln in text.splitlines() if ln.startswith("element ") and len(ln.split()) >= 3]


def sniff_format(head: bytes, name: str = "") -> str | None:
    """Best guess of a format from a file's first bytes (and name); None when unknown."""
    lower = name.lower()
    elements = _ply_element_names(head)
    if elements is not None:
        return "compressed_ply" if "chunk" in elements else "ply"
    if head[:4] == b"NGSP" or head[:2] == b"\x1f\x8b":
        return "spz"
    for f in FORMATS:
        if f.name not in ("ply", "compressed_ply") and any(lower.endswith(e) for e in f.extensions):
            return f.name
    if len(head) >= 4096 and head[0] == 0 and head[1] >= 1 and head[20] in (0, 1, 2) and head[21] == 0:
        return "ksplat"
    return None


def detect_format(path: str | Path, head: bytes | None = None) -> str:
    """The format of an existing file (extension first, then content)."""
    path = Path(path)
    lower = path.name.lower()
    if head is None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(65536)
        except OSError as err:
            raise InputError(f"Cannot read {path}: {err.strerror}.") from err
    if lower.endswith(".ply"):
        elements = _ply_element_names(head)
        if elements is None:
            raise InputError(f"{path.name} does not start with a PLY header; it is not a PLY file.")
        return "compressed_ply" if "chunk" in elements else "ply"
    for f in FORMATS:
        if any(lower.endswith(e) for e in f.extensions):
            return f.name
    found = sniff_format(head, path.name)
    if found is None:
        raise InputError(f"{path.name}: unknown splat format. Supported: "
                         + ", ".join(sorted({e for f in FORMATS for e in f.extensions})) + ".")
    return found


def format_for_output(path: str | Path, format: str | None = None) -> str:
    """The format a write to `path` will use (`format` wins over the extension)."""
    if format is not None:
        return format_info(format).name
    lower = Path(path).name.lower()
    if lower.endswith(".compressed.ply"):
        return "compressed_ply"
    for f in FORMATS:
        if f.name != "compressed_ply" and any(lower.endswith(e) for e in f.extensions):
            return f.name
    raise InputError(f"Cannot tell the output format from '{Path(path).name}'; use an extension such as "
                     ".ply, .compressed.ply, .splat or .spz, or name the format.")


# ---------------------------------------------------------------------- read / write
def _decoder(fmt: str) -> Callable[[bytes, str], GaussianSet]:
    if fmt == "ply":
        def decode_ply(data: bytes, source: str) -> GaussianSet:
            import io
            from plyfile import PlyData
            from .ply import gaussians_from_vertex
            try:
                ply = PlyData.read(io.BytesIO(data))
            except Exception as err:  # plyfile raises many types on corrupt input
                raise InputError(f"{source} is not a readable PLY file ({short_error(err)}).") from err
            if "vertex" not in [e.name for e in ply.elements]:
                raise InputError(f"{source} has no 'vertex' element, so it holds no Gaussians.")
            return gaussians_from_vertex(ply["vertex"], source)
        return decode_ply
    if fmt == "compressed_ply":
        from .compressed_ply import decode_compressed_ply
        return decode_compressed_ply
    if fmt == "splat":
        from .splat import decode_splat
        return decode_splat
    if fmt == "spz":
        from .spz import decode_spz
        return decode_spz
    if fmt == "ksplat":
        from .ksplat import decode_ksplat
        return decode_ksplat
    raise InputError(f"Unknown splat format '{fmt}'.")


def decode_gaussians(data: bytes, name: str, format: str | None = None) -> GaussianSet:
    """Gaussians from in-memory file bytes (e.g. a zip member); `name` helps detection and messages."""
    fmt = format_info(format).name if format else detect_format(name, data[:65536])
    return _decoder(fmt)(data, name)


def read_gaussians(path: str | Path, format: str | None = None) -> GaussianSet:
    """Read Gaussians from any supported file (rigs in avatar PLYs are ignored: see avatar_file)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"File not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder; a folder of frames is a sequence (see `sequence info`).")
    fmt = format_info(format).name if format else detect_format(path)
    if fmt == "ply":
        from .ply import read_ply
        return read_ply(path)
    if fmt == "compressed_ply":
        from .compressed_ply import read_compressed_ply
        return read_compressed_ply(path)
    if fmt == "splat":
        from .splat import read_splat
        return read_splat(path)
    if fmt == "spz":
        from .spz import read_spz
        return read_spz(path)
    from .ksplat import read_ksplat
    return read_ksplat(path)


def write_gaussians(path: str | Path, gaussians: GaussianSet, format: str | None = None, **options) -> Path:
    """Write Gaussians atomically in `format` (default: from the extension).

    Options: spz `version` (2, 3 default, 4), `sh1_bits`, `sh_rest_bits`; compressed_ply `sort` (True).
    """
    fmt = format_for_output(path, format)
    info = format_info(fmt)
    if not info.can_write:
        raise InputError(f"{info.label} files can be read but not written; write .ply, .compressed.ply, "
                         ".splat or .spz instead.")
    if fmt == "ply":
        from .ply import write_ply
        _no_options(fmt, options)
        return write_ply(path, gaussians)
    if fmt == "compressed_ply":
        from .compressed_ply import write_compressed_ply
        return write_compressed_ply(path, gaussians, **_only(fmt, options, {"sort"}))
    if fmt == "splat":
        from .splat import write_splat
        _no_options(fmt, options)
        return write_splat(path, gaussians)
    from .spz import write_spz
    return write_spz(path, gaussians, **_only(fmt, options, {"version", "sh1_bits", "sh_rest_bits"}))


def _only(fmt: str, options: dict, allowed: set[str]) -> dict:
    extra = set(options) - allowed
    if extra:
        raise InputError(f"Option(s) {', '.join(sorted(extra))} do not apply to {fmt} output.")
    return {k: v for k, v in options.items() if v is not None}


def _no_options(fmt: str, options: dict) -> None:
    _only(fmt, {k: v for k, v in options.items() if v is not None}, set())


def lost_in_conversion(g: GaussianSet, fmt: str) -> list[str]:
    """Human notes on what writing `g` as `fmt` gives up (empty when nothing is lost)."""
    import numpy as np
    from ..gaussians import SH_C0
    info = format_info(fmt)
    notes = []
    max_degree = {"splat": 0, "ksplat": 2}.get(fmt, 3)
    if g.sh_degree > max_degree:
        notes.append(f"{info.label} keeps SH up to degree {max_degree}; degree {g.sh_degree} bands are dropped")
    rest = g.sh[:, 1:]
    limits = {"spz": (1.0, "SH band 1–3 coefficients beyond ±1"),
              "compressed_ply": (4.0, "SH band 1–3 coefficients beyond ±4")}
    if fmt in limits and rest.size:
        lim, what = limits[fmt]
        count = int(np.count_nonzero(np.abs(rest) > lim))
        if count:
            notes.append(f"{count:,} {what} are clamped")
    if fmt == "splat":
        rgb = g.sh[:, 0] * SH_C0 + 0.5
        count = int(np.count_nonzero((rgb < 0) | (rgb > 1)))
        if count:
            notes.append(f"{count:,} base colour values outside 0..1 are clamped")
    if fmt == "spz":
        count = int(np.count_nonzero(np.abs(g.sh[:, 0]) > 0.5 / 0.15))
        if count:
            notes.append(f"{count:,} base colour values beyond the SPZ range are clamped")
    if info.quantised:
        notes.append(f"{info.label} quantises ({info.notes})")
    return notes
