"""Process pools whose workers never outlive the process that started them.

A ``kill -9`` of a parent leaves :class:`concurrent.futures.ProcessPoolExecutor` workers
waiting on their queue, orphaned, for as long as the machine runs. :func:`process_pool`
starts ``spawn`` workers whose initializer, :func:`exit_with_parent`, (1) asks Linux to send
them SIGTERM when the parent dies (``prctl(PR_SET_PDEATHSIG)`` through ctypes) and (2)
starts a daemon thread that checks the parent's pid once a second and ends the worker when
the parent is gone (other systems, and the rare case where the thread that started the
worker ends before the process). Either way a worker is gone within about a second.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

logger = logging.getLogger(__name__)

__all__ = ["exit_with_parent", "process_pool"]

_PR_SET_PDEATHSIG = 1
_WATCH_INTERVAL_S = 1.0


def _watch(parent_pid: int, interval: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent died: no clean-up can reach it any more
        time.sleep(interval)


def exit_with_parent(parent_pid: int, interval: float = _WATCH_INTERVAL_S) -> None:
    """Pool initializer: end this worker when the process ``parent_pid`` dies.

    Parameters
    ----------
    parent_pid : int
        ``os.getpid()`` of the process that creates the pool.
    interval : float
        Seconds between the watchdog's checks of the parent's pid.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
                logger.debug("prctl(PR_SET_PDEATHSIG) failed (errno %d); the watchdog remains", ctypes.get_errno())
        except (OSError, AttributeError):  # no libc symbol: the watchdog remains
            pass
    if os.getppid() != parent_pid:  # died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid, interval), daemon=True, name="parent-watchdog").start()


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A ``spawn`` :class:`ProcessPoolExecutor` of ``workers`` processes that exit with this one."""
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=exit_with_parent,
                               initargs=(os.getpid(),))
