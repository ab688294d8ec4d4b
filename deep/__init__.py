"""Neural DREAM, its baselines and the meta-RL benchmarks (Sec. 4.3, Sec. 6, App. B).

Empty for now: the benchmarks, agents and trial loop arrive with the next issues.
"""
