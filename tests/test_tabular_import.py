"""``import tabular`` has no side effects; the first kernel module still purges a stale cache."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tabular import _numba_cache

REPO = Path(__file__).resolve().parents[1]
STALE = "0" * 64 + "\n"


@pytest.fixture
def stale_cache(tmp_path, monkeypatch):
    """A private NUMBA_CACHE_DIR whose tabular cache holds old files and a stale stamp."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    where = _numba_cache.cache_dir()
    where.mkdir(parents=True)
    sentinels = [where / "rng.uniform-54.py311.nbi", where / "rng.uniform-54.py311.1.nbc"]
    for path in sentinels:
        path.write_bytes(b"old machine code")
    (where / _numba_cache.STAMP_NAME).write_text(STALE)
    return where, sentinels


def _python(code: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_tabular_loads_no_numba_and_deletes_nothing(stale_cache):
    where, sentinels = stale_cache
    before = sorted(p.name for p in where.iterdir())
    out = _python("import tabular, sys; print('numba' in sys.modules)")
    assert out == "False"
    assert sorted(p.name for p in where.iterdir()) == before
    assert all(p.read_bytes() == b"old machine code" for p in sentinels)
    assert (where / _numba_cache.STAMP_NAME).read_text() == STALE


def test_first_kernel_import_purges_a_stale_cache(stale_cache):
    where, sentinels = stale_cache
    assert _python("import tabular.rng") == ""
    assert not any(p.exists() for p in sentinels)
    stamp = (where / _numba_cache.STAMP_NAME).read_text().strip()
    assert stamp == _numba_cache.source_fingerprint()


def test_every_cached_kernel_module_checks_the_cache_first():
    for path in sorted(_numba_cache.PACKAGE_DIR.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        first_jit = re.search(r"^@njit\(.*cache=True", source, re.MULTILINE)
        if first_jit is None:
            continue
        check = re.search(r"^ensure_fresh\(\)", source, re.MULTILINE)
        assert check is not None and check.start() < first_jit.start(), path.name


def test_lazy_exports_resolve_to_the_defining_modules():
    import tabular
    from tabular import bandit, measures

    assert tabular.BanditFamily is bandit.BanditFamily
    assert tabular.measure is measures.measure and tabular.COLUMNS is measures.COLUMNS
    assert set(tabular.__all__) <= set(dir(tabular))
    with pytest.raises(AttributeError):
        _ = tabular.no_such_name
