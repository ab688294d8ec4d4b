"""Diagnostics of a DREAM checkpoint: Figs. 11 and 12 and linear probes of the factors of μ.

Fig. 11 is what greedy exploration visits, Fig. 12 the t-SNE of f(μ) and g(τ^exp), and the
probes measure how much of μ's task-relevant and irrelevant parts each encoding carries (the
information bottleneck's effect, Sec. 4.2).

``python -m analysis.diagnostics RUN_DIR --out DIR [--trials 200] [--seed 12345]`` (see
:mod:`.cli`; the maths of each piece is in its module and in ``docs/diagnostics.md``). One job
per module, each usable on its own (the notebook ``notebooks/diagnostics.py`` calls them):

* :mod:`.play` — the greedy trials of both problem splits, with the run's own protocol;
* :mod:`.embeddings` — f(μ) of every problem ID and g(τ^exp) of every trial, with μ's factors;
* :mod:`.probe` — linear probes of every factor from f and g, with the chance level;
* :mod:`.tsne` — the t-SNE planes of Fig. 12;
* :mod:`.exploration` — Fig. 11's counts (any method: they read only the played episodes);
* :mod:`.code_swap` — held-out problems played on each training problem's code f(μ'): does
  π^task fail there, or does g(τ^exp) land where π^task never trained;
* :mod:`.training_signal` — what π^task trains on: how much of μ survives the encoder's
  noise, each loss term's share of the exploitation optimiser's gradient, how far the
  replay's exploitation episodes got;
* :mod:`.figures` — both figures, drawn from the tables alone;
* :mod:`.cli` — the command line, and :func:`run_diagnostics` that writes every file.

What a benchmark knows is asked of its family: the factors of μ and which are task-relevant
(:meth:`~deep.envs.problem.MetaProblemFamily.factors`), what an exploration episode visits
(:meth:`~deep.envs.problem.MetaProblemFamily.exploration_visits`, ``cell_visits``).
"""

from analysis.checkpoints import load_run
from analysis.diagnostics.cli import (
    Diagnostics,
    DiagnosticsConfig,
    compute,
    main,
    run_diagnostics,
    write,
)
from analysis.diagnostics.code_swap import (
    format_code_swap,
    sufficiency_summary,
    swap_summary,
    swap_table,
)
from analysis.diagnostics.embeddings import (
    embedding_table,
    problem_embeddings,
    trajectory_embeddings,
)
from analysis.diagnostics.exploration import cell_table, exploration_table
from analysis.diagnostics.figures import colour_factors, draw_exploration, draw_tsne, write_png
from analysis.diagnostics.play import SplitPlay, play_splits, require_encoders
from analysis.diagnostics.probe import (
    bottleneck_table,
    fit_and_score,
    format_bottleneck,
    format_probe_summary,
    grouped_cv,
    probe_summary,
    probe_table,
)
from analysis.diagnostics.training_signal import (
    code_noise_table,
    gradient_terms_table,
    replay_progress_table,
)
from analysis.diagnostics.tsne import tsne_table

__all__ = [
    "Diagnostics",
    "DiagnosticsConfig",
    "SplitPlay",
    "bottleneck_table",
    "cell_table",
    "code_noise_table",
    "colour_factors",
    "compute",
    "draw_exploration",
    "draw_tsne",
    "embedding_table",
    "exploration_table",
    "fit_and_score",
    "format_bottleneck",
    "format_code_swap",
    "format_probe_summary",
    "gradient_terms_table",
    "grouped_cv",
    "load_run",
    "main",
    "play_splits",
    "probe_summary",
    "probe_table",
    "problem_embeddings",
    "replay_progress_table",
    "require_encoders",
    "run_diagnostics",
    "sufficiency_summary",
    "swap_summary",
    "swap_table",
    "trajectory_embeddings",
    "tsne_table",
    "write",
    "write_png",
]
