"""Fig. 12's coordinates: t-SNE of f(μ) and of g(τ^exp), each on its own.

t-SNE (van der Maaten & Hinton 2008; scikit-learn's ``TSNE``, PCA initialisation, seeded) maps
the encodings to the plane so that neighbours stay neighbours. Two maps, as in Fig. 12:

* f(μ) of the **training** problem IDs only (a held-out ID's embedding row is never trained:
  :mod:`.embeddings`);
* g(τ^exp) of every played exploration episode, training and held-out problems together.

Equal encodings are one point (a greedy policy that explores every problem alike gives every
episode the same g): t-SNE runs on the n distinct encodings, with perplexity
``min(30, (n − 1) / 3)`` (it must stay below n), and every row gets its encoding's place.
Fewer than 4 distinct encodings (the sign task's 3 problem IDs, an untrained exploration
policy) are placed on their first two principal axes instead (``layout = "pca"``; all at the
origin when they coincide). The result is a table, so Fig. 12 is redrawn from ``tsne.csv``
alone (:func:`.figures.draw_tsne`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from analysis.diagnostics.embeddings import z_columns

__all__ = ["MIN_POINTS", "plane", "tsne_table"]

MIN_POINTS = 4
"""Fewest distinct encodings t-SNE is run on (fewer: principal axes)."""


def plane(z: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """2-D places ``[N, 2]`` of encodings ``z`` ``[N, d]`` (equal rows share one) and the layout.

    ``"tsne"`` for at least :data:`MIN_POINTS` distinct rows, else ``"pca"``.
    """
    assert z.ndim == 2 and np.isfinite(z).all()
    distinct, inverse = np.unique(z, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(distinct) >= MIN_POINTS:
        perplexity = min(30.0, (len(distinct) - 1) / 3)
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
        return tsne.fit_transform(distinct)[inverse], "tsne"
    centred = distinct - distinct.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    xy = np.zeros((len(distinct), 2))
    k = min(2, axes.shape[0])
    xy[:, :k] = centred @ axes[:k].T
    return xy[inverse], "pca"


def tsne_table(embeddings: pd.DataFrame, *, seed: int = 0, threads: int = 1) -> pd.DataFrame:
    """The embedding table's f rows of training IDs and its g rows, with their places ``x, y``.

    Columns: every column of ``embeddings`` but the encoding, then ``layout`` (:func:`plane`),
    ``x`` and ``y``; each kind is mapped on its own (the two planes share no axes). ``threads``
    caps t-SNE's OpenMP threads.
    """
    zs = z_columns(embeddings)
    keep = (embeddings["kind"] == "g") | (embeddings["split"] == "train")
    blocks = []
    with threadpool_limits(limits=threads):
        for kind in ("f", "g"):
            rows = embeddings[keep & (embeddings["kind"] == kind)]
            if rows.empty:
                continue
            xy, layout = plane(rows[zs].to_numpy(dtype=np.float64), seed)
            block = rows.drop(columns=zs).reset_index(drop=True)
            block["layout"], block["x"], block["y"] = layout, xy[:, 0], xy[:, 1]
            blocks.append(block)
    if not blocks:
        columns = [c for c in embeddings.columns if c not in zs]
        return pd.DataFrame(columns=[*columns, "layout", "x", "y"])
    return pd.concat(blocks, ignore_index=True)
