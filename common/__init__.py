"""Helpers every layer shares.

Crash-safe result files (:mod:`common.io`) and one-line CLI errors (:mod:`common.cli`). Imports
nothing of ``tabular``, ``deep`` or ``analysis``.
"""
