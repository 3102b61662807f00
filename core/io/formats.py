"""One door for every Gaussian-splat file format: `read_gaussians`, `write_gaussians`, `FORMATS`.

The format comes from `format=` when given, else from the file name (`.compressed.ply`, `.ply`,
`.splat`, `.spz`, `.ksplat`), and a `.ply` is told apart from a compressed PLY by its header (a
`chunk` element). Reading a file with an unknown extension sniffs its first bytes. See FORMATS.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    FormatInfo("sog", "PlayCanvas SOG", (".sog",), True, True, "0–3", True, True,
               "WebP images: 16-bit log-encoded positions, 8-bit smallest-three rotations, 256-entry codebooks "
               "for log scales and colours, 8-bit opacity, SH bands 1–3 as a palette of up to 64k entries; "
               "a .sog zip, or a folder's meta.json"),
    FormatInfo("gltf", "glTF KHR_gaussian_splatting", (".glb", ".gltf"), True, True, "0–3", True, False,
               "float32 attributes (linear scales, opacity 0..1, xyzw rotations, SH coefficients); .glb written"),
)
# The frame each format stores (orientation.py): PlayCanvas's tools read every format but SPZ and
# glTF as PLY-space (y down); SPZ is RUB by Niantic's spec and glTF y-up. PLYs may say otherwise
# in a header comment (ply.ply_file_frame).
FILE_FRAME = {"ply": "rdf", "compressed_ply": "rdf", "splat": "rdf", "ksplat": "rdf", "sog": "rdf",
              "spz": "y_up", "gltf": "y_up"}
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
SNIFF_BYTES = 65536


def _ply_element_names(head: bytes) -> list[str] | None:
    """Element names of a PLY header held in `head`, or None if `head` is not a PLY header."""
    if not head.startswith(b"ply"):
        return None
    end = head.find(b"end_header")
    text = head[: end if end >= 0 else len(head)].decode("ascii", "replace")
    return [ln.split()[1] for ln in text.splitlines() if ln.startswith("element ") and len(ln.split()) >= 3]


def _ply_comments(head: bytes) -> list[str]:
    """The `comment` lines of a PLY header held in `head`."""
    end = head.find(b"end_header")
    text = head[: end if end >= 0 else len(head)].decode("ascii", "replace")
    return [ln[8:].strip() for ln in text.splitlines() if ln.startswith("comment ")]


def _json_kind(head: bytes) -> str | None:
    """"sog" for a SOG meta.json, "gltf" for a glTF JSON, else None (reads only `head`)."""
    text = head.lstrip()
    if not text.startswith(b"{"):
        return None
    if b'"means"' in text and b'"quats"' in text:
        return "sog"
    if b'"asset"' in text and (b'"meshes"' in text or b'"accessors"' in text):
        return "gltf"
    return None


def sniff_format(head: bytes, name: str = "") -> str | None:
    """Best guess of a splat format from a file's first bytes and its name; None when unknown.

    Content wins over the name: a PLY header (a `chunk` element: compressed PLY), SPZ's NGSP or
    gzip magic, glTF's binary magic, a zip holding meta.json (bundled SOG), a SOG or glTF JSON,
    a GaussianSplats3D header; the headerless .splat is known by its extension only.
    """
    lower = name.lower()
    elements = _ply_element_names(head)
    if elements is not None:
        return "compressed_ply" if "chunk" in elements else "ply"
    if head[:4] == b"NGSP" or head[:2] == b"\x1f\x8b":
        return "spz"
    if head[:4] == b"glTF":
        return "gltf"
    if head[:4] == b"PK\x03\x04":
        return "sog" if b"meta.json" in head or lower.endswith(".sog") else None
    kind = _json_kind(head)
    if kind is not None:
        return kind
    if len(head) >= 4096 and head[0] == 0 and head[1] >= 1 and head[20] in (0, 1, 2) and head[21] == 0:
        return "ksplat"
    for f in FORMATS:
        if f.name not in ("ply", "compressed_ply") and any(lower.endswith(e) for e in f.extensions):
            return f.name
    return None


def sniff_path(path: str | Path) -> str:
    """The splat-format detector for a path; `core.open.classify` (what `info`, `convert` and the window's
    open/drop ask) uses it for splat files; the splat readers call it directly.

    Accepts a regular file (never opens a FIFO or device, which could block) or a SOG folder
    holding meta.json. Raises InputError naming the file when it is missing or unrecognised.
    """
    import stat
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"File not found: {path}") from None
    except OSError as err:
        raise InputError(f"Cannot read {path}: {err.strerror}.") from err
    if stat.S_ISDIR(mode):
        if (path / "meta.json").is_file() and sniff_path(path / "meta.json") == "sog":
            return "sog"
        raise InputError(f"{path} is a folder; a folder of frames is a sequence (see `sequence info`).")
    if not stat.S_ISREG(mode):
        raise InputError(f"{path.name} is not a regular file (a pipe or device); save it to a file first.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as err:
        raise InputError(f"Cannot read {path}: {err.strerror}.") from err
    lower = path.name.lower()
    found = sniff_format(head, path.name)
    if lower.endswith(".ply") and found not in ("ply", "compressed_ply"):
        raise InputError(f"{path.name} does not start with a PLY header; it is not a PLY file.")
    if found is None:
        raise InputError(f"{path.name}: unknown splat format. Supported: "
                         + ", ".join(sorted({e for f in FORMATS for e in f.extensions})) + ", SOG meta.json.")
    return found


def detect_format(path: str | Path, head: bytes | None = None) -> str:
    """The format of an existing file (`sniff_path`; with `head`, of those bytes and the name)."""
    if head is None:
        return sniff_path(path)
    found = sniff_format(head, Path(path).name)
    if found is None:
        raise InputError(f"{Path(path).name}: unknown splat format.")
    return found


def format_for_output(path: str | Path, format: str | None = None) -> str:
    """The format a write to `path` will use (`format` wins over the extension)."""
    if format is not None:
        return format_info(format).name
    lower = Path(path).name.lower()
    if lower.endswith(".compressed.ply"):
        return "compressed_ply"
    if lower == "meta.json":
        return "sog"
    for f in FORMATS:
        if f.name != "compressed_ply" and any(lower.endswith(e) for e in f.extensions):
            return f.name
    raise InputError(f"Cannot tell the output format from '{Path(path).name}'; use an extension such as "
                     ".ply, .compressed.ply, .splat, .spz, .sog, meta.json or .glb, or name the format.")


# ---------------------------------------------------------------------- read / write
def _decode_raw(fmt: str, data: bytes, source: str, sh_order: str | None = None) -> tuple[GaussianSet, str]:
    """Gaussians from file bytes in the file's own frame, and that frame's name."""
    if fmt == "ply":
        import io
        from plyfile import PlyData
        from .ply import gaussians_from_vertex, ply_file_frame
        try:
            ply = PlyData.read(io.BytesIO(data))
        except Exception as err:  # plyfile raises many types on corrupt input
            raise InputError(f"{source} is not a readable PLY file ({short_error(err)}).") from err
        if "vertex" not in [e.name for e in ply.elements]:
            raise InputError(f"{source} has no 'vertex' element, so it holds no Gaussians.")
        return gaussians_from_vertex(ply["vertex"], source, sh_order), ply_file_frame(list(ply.comments))
    if fmt == "compressed_ply":
        from .compressed_ply import decode_compressed_ply
        return decode_compressed_ply(data, source), FILE_FRAME[fmt]
    if fmt == "splat":
        from .splat import decode_splat
        return decode_splat(data, source), FILE_FRAME[fmt]
    if fmt == "spz":
        from .spz import decode_spz
        return decode_spz(data, source), FILE_FRAME[fmt]
    if fmt == "ksplat":
        from .ksplat import decode_ksplat
        return decode_ksplat(data, source), FILE_FRAME[fmt]
    if fmt == "sog":
        from .sog import decode_sog_zip
        return decode_sog_zip(data, source), FILE_FRAME[fmt]
    if fmt == "gltf":
        from .gltf_splats import decode_gltf
        return decode_gltf(data, source), FILE_FRAME[fmt]
    raise InputError(f"Unknown splat format '{fmt}'.")


def decode_gaussians(data: bytes, name: str, format: str | None = None, up: str | None = None) -> GaussianSet:
    """Gaussians (studio frame) from in-memory file bytes (e.g. a zip member); `name` helps detection."""
    from .orientation import frame_for_up, to_studio
    fmt = format_info(format).name if format else detect_format(name, data[:SNIFF_BYTES])
    g, frame = _decode_raw(fmt, data, name)
    return to_studio(g, frame_for_up(up, frame))


MAX_BYTES = 8 << 30
FRAME_WORDS = {"rdf": "y down (x right, z forward; COLMAP, SuperSplat)", "y_up": "y up",
               "z_up": "z up", "-z": "-z up"}


def stored_frame(path: str | Path, fmt: str | None = None) -> str:
    """The frame a splat file stores (a FRAME_TO_STUDIO key): the format's, or for a PLY what its
    header says (ply.ply_file_frame). Reads at most the first 64 KiB."""
    path = Path(path)
    fmt = fmt or sniff_path(path)
    if fmt == "ply":
        from .ply import ply_file_frame
        with open(path, "rb") as fh:
            return ply_file_frame(_ply_comments(fh.read(SNIFF_BYTES)))
    return FILE_FRAME[fmt]


def read_gaussians(path: str | Path, format: str | None = None, *, up: str | None = None,
                   notes: list[str] | None = None, strict: bool = False, sh_order: str | None = None) -> GaussianSet:
    """Read Gaussians from any supported file into the studio's y-up frame.

    `up` is the file's up axis when its format's frame is wrong for it (auto, y, -y, z, -z).
    Splats with NaN/inf values are dropped and noted in `notes` (`strict`: refused instead).
    `sh_order` ("channel", the INRIA order, or "coeff") reads PLY f_rest in a chosen order.
    Rigs in avatar PLYs are ignored (see avatar_file).
    """
    from .notes import collecting
    from .orientation import frame_for_up, to_studio
    path = Path(path)
    fmt = format_info(format).name if format else sniff_path(path)
    with collecting(notes, strict):
        if fmt == "sog" and (path.is_dir() or path.name.lower().endswith(".json")):
            from .sog import read_sog_folder
            g, frame = read_sog_folder(path if path.is_dir() else path.parent), FILE_FRAME["sog"]
        elif fmt == "gltf" and path.name.lower().endswith(".gltf"):
            from .gltf_splats import read_gltf
            g, frame = read_gltf(path), FILE_FRAME["gltf"]
        else:
            if not path.is_file():
                raise InputError(f"File not found: {path}")
            if path.stat().st_size > MAX_BYTES:
                raise InputError(f"{path.name} is larger than 8 GiB; refusing to load it.")
            g, frame = _decode_raw(fmt, path.read_bytes(), path.name, sh_order)
        return to_studio(g, frame_for_up(up, frame))


def write_gaussians(path: str | Path, gaussians: GaussianSet, format: str | None = None, **options) -> Path:
    """Write Gaussians (studio frame) atomically in `format` (default: from the extension), turned
    into the format's own frame (FILE_FRAME) so other viewers show them the right way up.

    Options: spz `version` (2, 3 default, 4), `sh1_bits`, `sh_rest_bits`; compressed_ply `sort` (True);
    sog `bundle` (default: True unless the name is meta.json), `iterations`.
    """
    from .orientation import from_studio
    fmt = format_for_output(path, format)
    info = format_info(fmt)
    if not info.can_write:
        raise InputError(f"{info.label} files can be read but not written; write .ply, .compressed.ply, "
                         ".splat, .spz, .sog or .glb instead.")
    if fmt == "ply":
        from .ply import write_ply
        _no_options(fmt, options)
        return write_ply(path, gaussians, frame=FILE_FRAME[fmt])
    g = from_studio(gaussians, FILE_FRAME[fmt])
    if fmt == "compressed_ply":
        from .compressed_ply import write_compressed_ply
        return write_compressed_ply(path, g, **_only(fmt, options, {"sort"}))
    if fmt == "splat":
        from .splat import write_splat
        _no_options(fmt, options)
        return write_splat(path, g)
    if fmt == "sog":
        from .sog import write_sog
        return write_sog(path, g, **_only(fmt, options, {"bundle", "iterations"}))
    if fmt == "gltf":
        from .gltf_splats import write_glb
        _no_options(fmt, options)
        if Path(path).name.lower().endswith(".gltf"):
            raise InputError("glTF splats are written as binary .glb; name the output .glb.")
        return write_glb(path, g)
    from .spz import write_spz
    return write_spz(path, g, **_only(fmt, options, {"version", "sh1_bits", "sh_rest_bits"}))


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
        logs = np.log(np.maximum(g.scales.astype(np.float64), 1e-30))
        tiny, huge = int(np.count_nonzero(logs < -10.0)), int(np.count_nonzero(logs > 5.9375))
        if tiny:
            notes.append(f"{tiny:,} scale values below e^-10 (0.045 mm) are clamped up to it (SPZ's 8-bit log scale)")
        if huge:
            notes.append(f"{huge:,} scale values above e^5.94 (380 m) are clamped down to it")
    if info.quantised:
        notes.append(f"{info.label} quantises ({info.notes})")
    return notes
