"""Keep Numba's on-disk cache in step with the kernel sources.

``@njit(cache=True)`` revalidates a cached function against the timestamp of the file that
*defines* it, not against the files of the jitted functions it calls. A change to
``tabular/rng.py`` or ``tabular/acting.py`` would therefore leave ``tabular/dream.py``'s and
``tabular/measures.py``'s cached machine code in use, silently running old kernels.
:func:`purge_if_stale` hashes every source file of this package and, when the hash differs
from the one stamped next to the cache, deletes the package's cache files (``*.nbi`` index,
``*.nbc`` code) so everything recompiles from the current source.

Every kernel module calls :func:`ensure_fresh` after its imports, before its first
``@njit(cache=True)``: the first kernel module imported in a process runs the check, before
Numba can load anything from the cache. ``import tabular`` alone touches nothing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
STAMP_NAME = "tabular-sources.sha256"

_checked = False


def source_fingerprint(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 of every ``*.py`` file of the package (sorted by name)."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_dir(package_dir: Path = PACKAGE_DIR) -> Path:
    """Where Numba caches this package's functions (``NUMBA_CACHE_DIR`` mirrors the path)."""
    custom = os.environ.get("NUMBA_CACHE_DIR")
    if custom:
        return Path(custom) / package_dir.relative_to(package_dir.anchor)
    return package_dir / "__pycache__"


def purge_if_stale(package_dir: Path = PACKAGE_DIR) -> bool:
    """Delete the package's Numba cache files if the sources changed; True if it purged."""
    where = cache_dir(package_dir)
    stamp = where / STAMP_NAME
    current = source_fingerprint(package_dir)
    try:
        if stamp.read_text().strip() == current:
            return False
    except OSError:
        pass
    try:
        where.mkdir(parents=True, exist_ok=True)
        for path in [*where.glob("*.nbi"), *where.glob("*.nbc")]:
            path.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".stamp.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(current + "\n")
        os.replace(tmp, stamp)
    except OSError:  # a read-only install: Numba then compiles in memory anyway
        return False
    return True


def ensure_fresh() -> None:
    """Run :func:`purge_if_stale` on this package once per process (later calls are no-ops).

    Kernel modules call it at import time, so it runs under the import lock and before any
    of their ``@njit(cache=True)`` functions can be compiled or loaded from the cache.
    """
    global _checked
    if not _checked:
        purge_if_stale()
        _checked = True
