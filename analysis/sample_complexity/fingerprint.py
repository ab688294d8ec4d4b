"""Which kernel code produced a result: a short hash of the ``tabular`` sources behind it."""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

_TABULAR_IMPORT = re.compile(r"^\s*(?:from|import)\s+tabular\.(\w+)", re.MULTILINE)
_NOT_KERNEL_CODE = frozenset({"_numba_cache"})
"""``tabular`` modules the kernels import that cannot change a number (cache upkeep)."""


@functools.cache
def kernel_fingerprint() -> str:
    """Short SHA-256 of the ``tabular/`` sources that produce the per-seed numbers.

    The sources are ``tabular/measures.py`` and every ``tabular`` module it imports,
    transitively (found by scanning the import lines), except :data:`_NOT_KERNEL_CODE`.
    The fingerprint is stored in every result header and cell file, so a resumed run never
    mixes cells computed by different kernel code. Computed once per process.
    """
    import tabular

    root = Path(tabular.__file__).parent
    seen: set[str] = set()
    todo = ["measures"]
    while todo:
        name = todo.pop()
        if name in seen or name in _NOT_KERNEL_CODE or not (root / f"{name}.py").is_file():
            continue
        seen.add(name)
        todo.extend(_TABULAR_IMPORT.findall((root / f"{name}.py").read_text(encoding="utf-8")))
    digest = hashlib.sha256()
    for name in sorted(seen):
        digest.update(name.encode() + b"\0" + (root / f"{name}.py").read_bytes() + b"\0")
    return digest.hexdigest()[:16]
