"""Crash-safe result files: atomic writes, CSVs with an embedded config line, run metadata.

Every result file of the package (runs, checkpoints, curated CSVs) is written through
:func:`atomic_write_bytes`: the bytes go to a temporary file in the destination's directory,
are flushed to disk, and the temporary file is then renamed over the destination with
:func:`os.replace` (atomic on POSIX within one file system). A crash at any point leaves
either the old file or the new one, never a half-written file (at worst a stray
``.<name>.*.tmp`` next to it).

Result CSVs start with one comment line ``# {compact JSON}`` holding the config that
produced them (bsuite / Spinning Up practice: results are data with their config inside).
Read them back with ``pd.read_csv(path, comment="#")`` or :func:`read_csv`, and get the
config with :func:`read_header`.

A file that cannot be read back (truncated, not JSON, not a CSV, a damaged checkpoint) raises
:class:`DamagedFile`, and an output that cannot be written :class:`UnwritableOutput`: both are
:class:`common.cli.UsageError` s, so every entry point prints them as one line and exits 2. Neither
touches the file in question.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from common.cli import UsageError

PACKAGE = "dream-metarl"
"""Distribution name used for :func:`package_version`."""

NA_REP = "NA"
"""How missing values are written in every CSV (pandas reads it back as missing)."""


class DamagedFile(UsageError):
    """A file that exists but cannot be read as what it should be."""

    @classmethod
    def at(cls, path: str | os.PathLike[str], what: str) -> DamagedFile:
        """``<path>: <what is wrong>; left as it is``."""
        return cls(f"{path}: {what}; the file was left as it is")


class UnwritableOutput(UsageError):
    """An output path that cannot be written (read-only folder, a file where a folder must be)."""

    @classmethod
    def at(cls, path: str | os.PathLike[str], err: OSError) -> UnwritableOutput:
        """``<path>: cannot write (<reason>)``."""
        return cls(f"{path}: cannot write ({err.strerror or err})")


def output_folder(out: str | os.PathLike[str], flag: str = "--out") -> Path:
    """Create the folder ``out`` (and its parents) for a command's results.

    A file at that path, or a folder that cannot be created, is a one-line
    :class:`~common.cli.UsageError` naming ``flag``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError.for_flag(flag, out, "must be a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UnwritableOutput.at(out, err) from None
    return out


def _default_file_mode() -> int:
    """``0o666`` minus the process umask: the mode ``open(path, "w")`` would give."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_file_mode()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory + ``os.replace``).

    ``durable=False`` skips the ``fsync``: the replace is still atomic for a crashed or
    killed process, but after a power loss the file may be empty (fine for caches whose
    reader validates them, such as the resume cells).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise UnwritableOutput.at(path, err) from None
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp creates 0600; use the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def compact_json(obj: Any) -> str:
    """One-line JSON with sorted keys and no spaces (a stable, diff-friendly header)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def csv_text(df: pd.DataFrame, header: dict[str, Any] | None) -> str:
    """CSV text of ``df`` (no index, missing as ``NA``), preceded by ``# {header}`` if given."""
    buf = io.StringIO()
    if header is not None:
        buf.write("# " + compact_json(header) + "\n")
    df.to_csv(buf, index=False, na_rep=NA_REP, lineterminator="\n")
    return buf.getvalue()


def write_csv(
    path: str | os.PathLike[str],
    df: pd.DataFrame,
    header: dict[str, Any] | None,
    *,
    durable: bool = True,
) -> None:
    """Atomically write ``df`` as CSV with the config comment line ``header``."""
    atomic_write_bytes(path, csv_text(df, header).encode("utf-8"), durable=durable)


def read_header(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The config stored in the ``# {json}`` first line of a result CSV (``None`` if absent)."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    if not first.startswith("# "):
        return None
    try:
        value = json.loads(first[2:])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def read_csv(
    path: str | os.PathLike[str],
    dtype: dict[str, Any] | None = None,
    required: tuple[str, ...] = (),
    **kwargs: Any,
) -> pd.DataFrame:
    """Read a result CSV written by :func:`write_csv` (the comment line is skipped).

    A file that is not such a CSV, is empty or cut short (every CSV written here ends with a
    line end), or lacks a ``required`` column raises :class:`DamagedFile` naming it.
    """
    _check_complete(Path(path))
    try:
        df = pd.read_csv(path, comment="#", dtype=dtype, **kwargs)
    except FileNotFoundError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise DamagedFile.at(path, f"not a readable CSV ({reason})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DamagedFile.at(path, f"no column {', '.join(missing)} (truncated or not a run's CSV)")
    return df


def _check_complete(path: Path) -> None:
    """DamagedFile unless ``path`` is non-empty and ends with a line end (as written)."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size:
            handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
    if not size:
        raise DamagedFile.at(path, "empty (truncated)")
    if last != b"\n":
        raise DamagedFile.at(path, "truncated (its last line has no line end)")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file strictly (no NaN/Infinity); :class:`DamagedFile` if it is not JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        text = Path(path).read_text(encoding="utf-8")
        return json.loads(text, parse_constant=refuse)
    except (ValueError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise DamagedFile.at(path, f"not valid JSON ({reason})") from None


def json_text(obj: Any) -> str:
    """Strict, indented JSON: non-finite floats become ``null`` (JSON has no NaN)."""
    return json.dumps(_finite(obj), indent=2, allow_nan=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def package_version() -> str | None:
    """Installed version of the ``dream-metarl`` distribution, if it is installed."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def _version_of(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def git_state(where: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository holding ``where``."""
    cwd = Path(where) if where is not None else Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    dirty = None if commit is None or status is None else bool(status)
    return {"commit": commit, "dirty": dirty}


def environment() -> dict[str, Any]:
    """Versions and machine facts that can change a run's speed or numbers."""
    import numpy as np

    git = git_state()
    # Numba's version from its metadata: importing it here would load it (and start its
    # OpenMP pool, which resets torch's thread count) in runs that never use it.
    numba = sys.modules.get("numba")
    return {
        "package": PACKAGE,
        "package_version": package_version(),
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "numba_version": _version_of("numba"),
        "numba_threads": int(numba.get_num_threads()) if numba is not None else None,
        "numpy_version": np.__version__,
        "pandas_version": pd.__version__,
        "python_version": sys.version.split()[0],
        "platform": platform.platform(),
    }


def write_png(path: str | os.PathLike[str], fig: Any, dpi: int = 110, **kwargs: Any) -> None:
    """Render a matplotlib figure to PNG in memory and write it atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, **kwargs)
    atomic_write_bytes(path, buf.getvalue())
