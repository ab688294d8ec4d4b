"""Numba's cache is purged when any kernel source changes (callee changes included)."""

from __future__ import annotations

from tabular import _numba_cache


def test_purge_when_any_source_changes(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    pkg = tmp_path / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "kernel.py").write_text("x = 1\n")
    (pkg / "callee.py").write_text("y = 1\n")
    cached = [
        pkg / "__pycache__" / "kernel.f-1.py311.nbi",
        pkg / "__pycache__" / "kernel.f-1.py311.1.nbc",
    ]
    for path in cached:
        path.write_bytes(b"old machine code")
    assert _numba_cache.purge_if_stale(pkg)  # no stamp yet: purge and stamp
    assert not any(p.exists() for p in cached)
    for path in cached:
        path.write_bytes(b"fresh machine code")
    assert not _numba_cache.purge_if_stale(pkg)  # unchanged sources: keep the cache
    assert all(p.exists() for p in cached)
    (pkg / "callee.py").write_text("y = 2\n")  # a callee module changed
    assert _numba_cache.purge_if_stale(pkg)
    assert not any(p.exists() for p in cached)


def test_the_package_stamp_matches_its_sources():
    _numba_cache.ensure_fresh()  # what the kernel modules do before their first kernel
    stamp = _numba_cache.cache_dir() / _numba_cache.STAMP_NAME
    assert stamp.read_text().strip() == _numba_cache.source_fingerprint()
