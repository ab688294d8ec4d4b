"""Headless OpenGL set-up for MiniWorld; :func:`configure` must run before ``import miniworld``.

MiniWorld renders through pyglet 1.5. Without a display, ``import miniworld`` fails with
``NoSuchDisplayException`` unless pyglet is in headless mode, which makes it render through EGL
(Mesa's llvmpipe on a CPU-only machine: Debian packages libegl1, libegl-mesa0, libgl1,
libgl1-mesa-dri, libglu1-mesa). ``xvfb-run -a`` is the fallback and gives the same frames.

``LP_NUM_THREADS=0`` makes llvmpipe rasterise on the calling thread: for 80×60 frames its worker
threads cost more than they save (measured on 2 cores: about 5% more frames per second in one
process, and no contention between processes). Both settings are defaults: a value already in
the environment wins.
"""

from __future__ import annotations

import os
import sys

__all__ = ["configure"]


def configure() -> None:
    """Put pyglet in headless (EGL) mode and llvmpipe on one thread, unless already set.

    Call it before the first ``import miniworld`` (or ``import pyglet.window``) of the
    process; later calls are harmless but cannot switch an already opened display.
    """
    os.environ.setdefault("PYGLET_HEADLESS", "True")
    os.environ.setdefault("LP_NUM_THREADS", "0")
    pyglet = sys.modules.get("pyglet")
    if pyglet is not None and "pyglet.window" not in sys.modules:
        headless = os.environ["PYGLET_HEADLESS"].lower() in ("1", "true", "yes")
        pyglet.options["headless"] = headless
