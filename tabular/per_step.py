r"""Per-step epsilon-greedy tabular Q-learning on the real MDP of App. C.2 (``--learner per-step``).

App. C.2 analyses a learner that keeps one value per whole action sequence ("learning a
per timestep Q-value is equivalent to learning a Q-value for the entire trajectory"; that
is the per-trajectory form of :mod:`tabular.rl2` and :mod:`tabular.dream`). This module
runs the learner the sentence abbreviates: epsilon-greedy Q-learning with one value per
*(state, action)* of the real MDP, updated online, step by step. The two are not the same
algorithm: per-step Q-learning bootstraps, and its targets are *stale* (each value is the
mean of the targets as they were when computed). The differences are proved below.

States and tables
-----------------
A state of the real MDP at step ``t < H`` of an episode is the prefix ``(a_0, .., a_{t-1})``
of actions taken so far (App. C.2, "States": ``(t, a_0, .., a_{t-1}, 0, .., 0, 0)``; the
revealing coordinate is 0 before the last step). Prefixes form an ``A``-ary tree and get the
node id ``(A**t - 1) / (A - 1) + sum_{i<t} a_i A**i`` (level ``t`` starts at
``(A**t - 1) / (A - 1)``); there are ``N_int = (A**H - 1) / (A - 1)`` internal nodes. The
terminal states (depth ``H``) have no actions and need no row. Each table is ``(rows, A)``
float64 values with ``(rows, A)`` int64 visit counts; every value starts at 0 (tabular
Q-learning's usual zero initialisation, as in the per-trajectory form).

* RL²: ``Q_exp`` (``N_int`` rows) and ``Q_task``: one ``N_int``-row block per exploration
  trajectory ``tau``, because RL²'s exploitation policy conditions on ``tau`` (App. C.2,
  ``Q̂_task(tau, a)``). With deterministic dynamics ``tau`` is identified by its context
  ``ctx(tau) = a`` for ``tau = (a, 0)``, ``a != a_star`` (``0 .. K-2``), and
  ``ctx = K - 1 + mu`` for ``tau = (a_star, mu)``: ``K - 1 + M`` contexts, stored as one
  ``((K - 1 + M) * N_int, A)`` array (the spec's ``(K-1+M, N_int, A)``, flattened).
* DREAM: ``Q_exp`` and the empirical decoder's counts ``n(tau_a, mu)`` (a ``K x M`` int64
  table; the row of ``a_star`` is unused because ``(a_star, mu)`` reveals ``mu``) and
  ``n(tau_a)`` (``K`` int64), plus a ``K``-byte flag "``a`` has been seen with two distinct
  problems" for ``T_event``. DREAM's exploitation policy is trained on its own and does not
  influence the exploration rewards (Sec. 4.2: the reward "is independent from the
  exploitation policy"), so no measure depends on it and the kernel does not simulate it.

Acting (App. C.2: "epsilon-greedy tabular Q-learning")
------------------------------------------------------
At exploration step ``t`` of trial ``i`` a coin ``draw(key, i, SLOT_EXP_EPS + t) < epsilon``
picks a uniform action ``draw_index(key, i, SLOT_EXP_DIGIT + t, A)``; otherwise the greedy
action, ties broken uniformly among all exact maximisers with
``u = draw(key, i, SLOT_EXP_TIE + t)``: the ``floor(u * n_max)``-th maximiser in increasing
action order, as in :mod:`tabular.acting`. The exploitation episode uses ``SLOT_TASK_*``
likewise, and the problem is ``draw_index(key, i, SLOT_MU, M)``. Since the per-trajectory
uniform sequence takes digit ``t`` from ``SLOT_*_DIGIT + t``, at ``epsilon = 1`` both
learners see exactly the same problems and sequences, seed for seed; at ``H = 1`` they
consume the same numbers for every epsilon.

Updates
-------
Online Q-learning, in time order (each transition updates its value right after it
happens), ``gamma = 1`` (episodes have fixed horizon ``H``), learning rate
``1 / n(s, a)``: the first update overwrites the initial 0, and ``Q(s, a)`` is the sample
mean of its targets at the times they were computed (App. C.2 estimates every Q-value "as
the sample mean"; here of stale bootstrapped targets). The update is
``Q <- Q + (target - Q) / n``, the same floating-point expression in the reference.
The kernels choose an episode's ``H`` actions first and then apply its ``H`` updates in
time order; this is the same as interleaving them, because states form a tree: step ``t``
reads only its own node's row, which no earlier step of the episode updates, and the
bootstrap target of step ``t`` reads the next node before step ``t + 1`` updates it (the
reference interleaves, and the tests compare the two seed for seed).

* RL²: exploration rewards are 0. The target at exploration step ``t < H - 1`` is
  ``max_a Q_exp(next node, a)``; at ``t = H - 1`` the next state is the exploitation
  episode's initial state given ``tau``, so the target is
  ``V_task(tau) = max_a' Q_task(ctx(tau), root, a')`` at that moment, i.e. before this
  trial's exploitation updates (App. C.2: RL² "regress[es] toward the exploitation
  Q-values"). Exploitation targets are ``max_a Q_task(ctx, next node, a)`` and, at the last
  step, the reward ``R_mu``: 1 iff the exploitation sequence is ``a_mu`` (index ``mu``).
* DREAM: the reward of the last exploration step is ``log q̂(mu | tau)``, where ``q̂`` is
  the empirical decoder (App. C.2: counts of ``(mu, tau)`` / counts of ``tau``) *updated
  with this trial's observation first*, so the first sample of a sequence gives
  ``log 1 = 0`` and ``tau = (a_star, mu)`` always gives ``log 1 = 0``. Intermediate rewards
  are 0. This is Eq. 5's information gain ``log q(mu | tau_{:t}) - log q(mu | tau_{:t-1})``
  (with ``z = mu`` and no step penalty, ``c = 0``, as in App. C.2) for a decoder that knows
  that prefixes shorter than ``H`` reveal nothing (every state before step ``H`` is the
  same in every problem, so ``q(mu | prefix) = q(mu | s_0)``): the per-step rewards
  telescope to ``log q̂(mu | tau) - log q(mu | s_0)``, all at the last step. We drop the
  action-independent constant ``-log q(mu | s_0) = log M`` so that the zero
  initialisation means the same here as in the per-trajectory form (0 = "as good as a
  fully informative trajectory"). Intermediate targets are ``max_a Q_exp(next node, a)``.
  ``log`` is evaluated as ``math.log(n(tau, mu) / n(tau))`` in both kernel and reference.

Measures (the definitions of :mod:`tabular.dream`; trials counted from 1)
-------------------------------------------------------------------------
"Greedy optimal after trial ``t``": at every node on the ``a_star`` path (the prefixes
``(A-1, .., A-1)`` of length ``0 .. H-1``) the action ``A - 1`` is the *unique* maximiser of
``Q_exp`` (strict ``>``), so the tie-broken greedy policy takes ``a_star`` with probability 1.
``Q̂_0`` is never optimal (all values tie at 0). ``T_greedy`` = 1 + the last non-optimal
trial; ``T_guaranteed`` = the first ``t`` from which greedy is optimal on every continuation
of the run; ``T_event`` = the same coupon events as the per-trajectory form (DREAM: every
``a != a_star`` seen with two distinct problems and ``a_star`` seen once; RL²: every ``mu``
solved, i.e. some trial explored ``a_star`` in problem ``mu`` and then exploited ``a_mu``).
``T_event`` depends only on the sampled ``(mu, a, a')``, so at ``epsilon = 1`` it equals the
per-trajectory ``T_event`` seed for seed.

DREAM certificate. *Claim:* (i) every target and every value is ``<= 0``; (ii) a value
that is negative stays negative; (iii) ``Q_exp(p, A-1) = 0.0`` exactly at every node ``p`` of
the ``a_star`` path, forever. Hence greedy is optimal after ``t`` iff all ``H (A - 1)``
off-path entries ``Q_exp(p, b)``, ``b != A - 1``, of the path nodes are negative, which is
monotone, so ``T_greedy = T_guaranteed`` = the first optimal trial.
*Proof.* (i) ``q̂ <= 1``, so leaf targets ``log q̂ <= 0``; intermediate targets are maxima of
values, which are means of earlier targets or the initial 0, so ``<= 0`` by induction on
time. (ii) A value with ``n`` targets is their mean; if one is negative and all are
``<= 0`` the mean is negative. (In floating point: a negative ``Q`` has ``n >= 2`` at its next
update, and ``fl((x - Q) / n) <= fl(-Q / 2) = -Q / 2`` for ``x <= 0`` by monotone rounding, so
the new value is ``<= Q / 2 < 0``.) (iii) The target of ``(p, A-1)`` at depth ``H - 1`` is
``log q̂(mu | (a_star, mu)) = log 1 = 0``; at depth ``t < H - 1`` it is the max over the next
path node, which contains ``Q_exp(p', A-1) = 0`` (induction) and nothing positive, so it is
0; a mean of zeros is exactly ``0.0``. So ``A - 1`` is the unique argmax at ``p`` iff every
other entry there is ``< 0``; by (ii) once all are negative they stay so on every
continuation, and before that greedy is not optimal at ``t`` itself. □ The kernel counts
the negative off-path entries and stops once ``T_guaranteed`` and ``T_event`` are both
reached (nothing later can change a measure).

*Stale targets.* ``Q_exp(p, b)`` turns negative only when ``(p, b)`` is visited while its
target is negative: for a leaf, when the sequence is sampled with a second distinct
problem (the per-trajectory condition); for ``t < H - 1``, when ``(p, b)`` is *revisited after*
every entry of the next node turned negative. So at ``H = 1`` all three measures (and the
trials run) equal the per-trajectory ones seed for seed, for every epsilon (same numbers,
same maximiser sets, same events); for ``H >= 2`` and ``epsilon = 1``, ``T_guaranteed`` is at
least the per-trajectory one and can exceed ``T_event``. It can also be smaller than
``T_event``, because ``a_star`` need not have been seen (its zero value already wins).

RL²: no certificate. *Claim:* for ``epsilon > 0`` no trial is ever guaranteed, so
``T_guaranteed = -1`` (infinite). *Proof.* Every ``Q_exp`` entry stays ``< 1`` forever: its
first target is 0 (at depth ``t < H - 1`` the next node has never been visited; at depth
``H - 1`` the context ``ctx(tau)`` has never been exploited, since exploiting it requires
having explored ``tau``), and it is a mean of targets in ``[0, 1]`` containing that 0 (exact
arithmetic; the tests check it on the floating-point reference). Take
any history and an off-path action ``b != A - 1`` at the root. The continuation that
repeatedly explores a fixed sequence ``a`` starting with ``b``, in a fixed problem ``m``, and
exploits ``a_m`` has positive probability under epsilon-greedy with ``epsilon > 0``. Along it,
``Q_task(ctx(a, 0), ., .)`` on the ``a_m`` path tends to 1 (a mean with a fixed number of
earlier zeros), hence so do the targets and values along ``a`` back to ``Q_exp(root, b)``,
while ``Q_exp(root, A - 1) < 1`` is never updated. Eventually
``Q_exp(root, b) > Q_exp(root, A - 1)`` and greedy is not optimal. □ (The per-trajectory form
has a certificate because its targets are current: once every ``mu`` is solved,
``Q̂_exp(a_star) = 1`` exactly.) So the RL² kernel runs to ``max_trials`` and returns
``capped = 1``, ``T_guaranteed = -1``, ``T_greedy`` = 1 + the last non-optimal trial within
the cap (only a lower bound), and ``T_event`` (or -1 if not reached). Greedy optimality is
tracked by re-checking, after each exploration episode, the path nodes it updated (the
only rows of ``Q_exp`` that change).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tabular._numba_cache import ensure_fresh
from tabular.rng import (
    SLOT_EXP_DIGIT,
    SLOT_EXP_EPS,
    SLOT_EXP_TIE,
    SLOT_MU,
    SLOT_TASK_DIGIT,
    SLOT_TASK_EPS,
    SLOT_TASK_TIE,
    draw,
    draw_index,
)

ensure_fresh()  # before any @njit(cache=True) below can load from Numba's cache


# ---------------------------------------------------------------------------- helpers
# The helpers are written out by hand (no nested helper calls in the per-step loops) and
# inlined into the kernels (Numba ``inline="always"``): measured, each non-inlined Numba call
# with array arguments cost about 10 ns here, more than the work it does.
@njit(cache=True, inline="always")
def _choose_sequence(
    q: np.ndarray,
    base: int,
    A: int,
    H: int,
    epsilon: float,
    key: np.uint64,
    trial: int,
    eps_slot: int,
    digit_slot: int,
    tie_slot: int,
) -> int:
    """Epsilon-greedy actions of one episode in the ``N_int``-row block at ``base``.

    Step ``t`` uses the slots ``eps_slot + t``, ``digit_slot + t``, ``tie_slot + t``; ties are
    broken uniformly among exact maximisers. Returns the sequence index. Choosing all the
    actions before the episode's updates equals interleaving them: step ``t`` reads only
    its own node's row, which no earlier step of the episode updates (tree states).
    """
    start = 0  # first node id of the current depth
    place = 1  # A**t
    seq = 0  # index of the prefix so far
    for t in range(H):
        row = base + start + seq
        if draw(key, trial, eps_slot + t) < epsilon:
            a = draw_index(key, trial, digit_slot + t, A)
        else:
            best = q[row, 0]
            n_best = 1
            for b in range(1, A):
                if q[row, b] > best:
                    best = q[row, b]
                    n_best = 1
                elif q[row, b] == best:
                    n_best += 1
            r = draw_index(key, trial, tie_slot + t, n_best)
            a = 0
            while q[row, a] != best or r > 0:
                if q[row, a] == best:
                    r -= 1
                a += 1
        seq += a * place
        start += place
        place *= A
    return seq


@njit(cache=True, inline="always")
def _backup(
    q: np.ndarray, n: np.ndarray, base: int, A: int, H: int, seq: int, last_target: float
) -> None:
    """Online Q-learning updates of an episode's ``H`` transitions, in time order.

    Step ``t < H-1`` bootstraps on ``max_a q(next node, a)``, read before the next node's own
    update (it comes at step ``t + 1``); the last step's target is ``last_target``.
    ``Q <- Q + (target - Q) / n``: the sample mean of the targets.
    """
    start = 0
    place = 1
    prefix = 0
    rest = seq
    for t in range(H):
        a = rest % A
        rest //= A
        row = base + start + prefix
        prefix += a * place
        start += place
        place *= A
        if t < H - 1:
            nxt = base + start + prefix
            target = q[nxt, 0]
            for b in range(1, A):
                if q[nxt, b] > target:
                    target = q[nxt, b]
        else:
            target = last_target
        n[row, a] += 1
        v = q[row, a]
        q[row, a] = v + (target - v) / n[row, a]


@njit(cache=True, inline="always")
def _path_depth(seq: int, A: int, H: int) -> tuple[int, int]:
    """Where ``seq`` leaves the a_star path: ``(L, row)``.

    ``L`` = number of leading ``A-1`` actions of ``seq`` (at most ``H``); ``row`` = node id
    of the a_star-path node at depth ``min(L, H-1)``.
    """
    start = 0
    place = 1
    rest = seq
    L = 0
    while L < H and rest % A == A - 1:
        rest //= A
        L += 1
        if L < H:
            start += place
            place *= A
    return L, start + place - 1


@njit(cache=True, inline="always")
def _row_max(q: np.ndarray, row: int) -> float:
    """``max_a q[row, a]``."""
    best = q[row, 0]
    for b in range(1, q.shape[1]):
        if q[row, b] > best:
            best = q[row, b]
    return best


# ------------------------------------------------------------------------------- RL²
@njit(cache=True)
def _rl2_tables(A: int, H: int) -> tuple[np.ndarray, ...]:
    """The arrays one RL² seed allocates (see :func:`per_step_table_bytes`)."""
    K = A**H
    n_int = (K - 1) // (A - 1)
    q_exp = np.zeros((n_int, A), np.float64)
    n_exp = np.zeros((n_int, A), np.int64)
    q_task = np.zeros(((K - 1 + K) * n_int, A), np.float64)
    n_task = np.zeros(((K - 1 + K) * n_int, A), np.int64)
    solved = np.zeros(K, np.bool_)
    path_ok = np.zeros(H, np.bool_)
    return q_exp, n_exp, q_task, n_task, solved, path_ok


@njit(cache=True, inline="always")
def _rl2_path_update(q_exp: np.ndarray, path_ok: np.ndarray, A: int, H: int, seq: int) -> int:
    """Re-check "``A-1`` is the unique argmax" at the path nodes that ``seq`` updated.

    Returns the change in the number of path nodes where it holds.
    """
    d_ok = 0
    start = 0
    place = 1
    rest = seq
    for t in range(H):
        row = start + place - 1
        ok = True
        for b in range(A - 1):
            if q_exp[row, b] >= q_exp[row, A - 1]:
                ok = False
        d_ok += int(ok) - int(path_ok[t])
        path_ok[t] = ok
        if rest % A != A - 1:  # left the path: deeper path nodes were not updated
            break
        rest //= A
        start += place
        place *= A
    return d_ok


@njit(cache=True)
def rl2_per_step_seed(
    A: int, H: int, epsilon: float, key: np.uint64, max_trials: int
) -> tuple[int, int, int, int, int]:
    """Run one seed of per-step RL² for ``max_trials`` trials (no certificate exists).

    Returns ``(T_greedy, T_event, T_guaranteed, trials_run, capped)`` with
    ``T_guaranteed = -1`` and ``capped = 1`` always; ``T_greedy`` is 1 + the last
    non-optimal trial within the cap (a lower bound); ``T_event`` is -1 if not reached.
    """
    K = A**H
    M = K
    n_int = (K - 1) // (A - 1)
    q_exp, n_exp, q_task, n_task, solved, path_ok = _rl2_tables(A, H)
    n_ok = 0  # path nodes where A-1 is the unique argmax of Q_exp
    n_solved = 0
    last_not_optimal = 0
    t_event = -1
    t = 0
    while t < max_trials:
        t += 1
        mu = draw_index(key, t, SLOT_MU, M)
        # exploration episode; its last target is V_task(tau) before this trial's exploitation
        seq = _choose_sequence(
            q_exp, 0, A, H, epsilon, key, t, SLOT_EXP_EPS, SLOT_EXP_DIGIT, SLOT_EXP_TIE
        )
        base = (seq if seq != K - 1 else K - 1 + mu) * n_int  # block of ctx(tau)
        _backup(q_exp, n_exp, 0, A, H, seq, _row_max(q_task, base))
        n_ok += _rl2_path_update(q_exp, path_ok, A, H, seq)
        # exploitation episode in context ctx(tau); the last step pays 1 iff it is a_mu
        seq_task = _choose_sequence(
            q_task, base, A, H, epsilon, key, t, SLOT_TASK_EPS, SLOT_TASK_DIGIT, SLOT_TASK_TIE
        )
        _backup(q_task, n_task, base, A, H, seq_task, 1.0 if seq_task == mu else 0.0)
        if seq == K - 1 and seq_task == mu and not solved[mu]:
            solved[mu] = True
            n_solved += 1
            if n_solved == M:
                t_event = t
        if n_ok < H:
            last_not_optimal = t
    return last_not_optimal + 1, t_event, -1, t, 1


# ------------------------------------------------------------------------------ DREAM
@njit(cache=True)
def _dream_tables(A: int, H: int) -> tuple[np.ndarray, ...]:
    """The arrays one DREAM seed allocates (see :func:`per_step_table_bytes`)."""
    K = A**H
    n_int = (K - 1) // (A - 1)
    q_exp = np.zeros((n_int, A), np.float64)
    n_exp = np.zeros((n_int, A), np.int64)
    dec = np.zeros((K, K), np.int64)  # n(tau_a, mu); row K-1 (a_star) unused
    dec_tau = np.zeros(K, np.int64)  # n(tau_a)
    two = np.zeros(K, np.bool_)  # a seen with two distinct problems
    return q_exp, n_exp, dec, dec_tau, two


@njit(cache=True)
def dream_per_step_seed(
    A: int, H: int, epsilon: float, key: np.uint64, max_trials: int
) -> tuple[int, int, int, int, int]:
    """Run one seed of per-step DREAM until ``T_guaranteed`` and ``T_event`` (or ``max_trials``).

    Returns ``(T_greedy, T_event, T_guaranteed, trials_run, capped)``; a measure not
    reached within ``max_trials`` is ``-1`` and ``capped = 1``.
    """
    K = A**H
    M = K
    q_exp, n_exp, dec, dec_tau, two = _dream_tables(A, H)
    need = H * (A - 1)  # off-path entries of the path nodes, all negative iff optimal
    n_neg = 0
    n_two = 0
    star_seen = False
    last_not_optimal = 0
    t_event = -1
    t_guaranteed = -1
    t = 0
    while t < max_trials:
        t += 1
        mu = draw_index(key, t, SLOT_MU, M)
        seq = _choose_sequence(
            q_exp, 0, A, H, epsilon, key, t, SLOT_EXP_EPS, SLOT_EXP_DIGIT, SLOT_EXP_TIE
        )
        if seq == K - 1:
            star_seen = True
            reward = 0.0  # log q̂(mu | (a_star, mu)) = log 1
        else:
            dec_tau[seq] += 1  # the decoder sees this trial's observation first
            dec[seq, mu] += 1
            reward = math.log(dec[seq, mu] / dec_tau[seq])
            if not two[seq] and dec[seq, mu] < dec_tau[seq]:
                two[seq] = True
                n_two += 1
        # the one off-path entry of a path node this episode can update: depth L, a_L != A-1
        L, row = _path_depth(seq, A, H)
        a_off = (seq // A**L) % A if L < H else A - 1
        old = q_exp[row, a_off]
        _backup(q_exp, n_exp, 0, A, H, seq, reward)
        if L < H and old >= 0.0 and q_exp[row, a_off] < 0.0:
            n_neg += 1
        if n_neg < need:
            last_not_optimal = t
        elif t_guaranteed < 0:
            t_guaranteed = t
        if t_event < 0 and star_seen and n_two == K - 1:
            t_event = t
        if t_guaranteed >= 0 and t_event >= 0:
            return last_not_optimal + 1, t_event, t_guaranteed, t, 0
    return last_not_optimal + 1, t_event, t_guaranteed, t, 1


# ----------------------------------------------------------------------------- memory
def per_step_table_bytes(method: str, A: int, H: int) -> int:
    """Bytes of the arrays one per-step seed allocates (:func:`_rl2_tables`, :func:`_dream_tables`).

    RL²: ``Q_exp`` and its counts (``16 N_int A``), ``Q_task`` and its counts over
    ``K - 1 + M`` contexts (``16 (K - 1 + M) N_int A``), ``M`` solved flags and ``H`` path
    flags. DREAM: ``Q_exp`` and its counts, the ``K x M`` decoder counts, ``K`` trajectory
    counts and ``K`` two-problem flags.
    """
    K = int(A) ** int(H)
    n_int = (K - 1) // (int(A) - 1)
    exp = 16 * n_int * int(A)
    if method == "rl2":
        return exp + 16 * (2 * K - 1) * n_int * int(A) + K + int(H)
    if method == "dream":
        return exp + 8 * K * K + 8 * K + K
    raise ValueError(f"method={method!r} is not allowed: use rl2 or dream")
