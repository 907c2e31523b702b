"""Verbosity and progress bars, with the reference's ``transformers.utils.logging`` names.

Every message of leanformers goes to the standard ``logging`` logger ``"leanformers"`` (or one of
its children). Until one of the functions below configures it, that logger has no handler of its
own: warnings reach standard error through Python's last-resort handler, or whatever handlers the
application set up. ``set_verbosity*`` (like the reference) gives it one handler writing to standard
error and stops propagation to the root logger, so messages are not printed twice.

Progress bars (tqdm) appear only for work that takes more than about a second (``delay=1``) and are
off after ``disable_progress_bar()`` or with ``HF_HUB_DISABLE_PROGRESS_BARS=1``. Importing this
module imports neither tqdm nor torch.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from logging import CRITICAL, DEBUG, ERROR, FATAL, INFO, NOTSET, WARN, WARNING  # noqa: F401 (re-exported)

__all__ = [
    "CRITICAL", "DEBUG", "ERROR", "FATAL", "INFO", "NOTSET", "WARN", "WARNING",
    "get_logger", "get_verbosity", "set_verbosity", "set_verbosity_debug", "set_verbosity_info",
    "set_verbosity_warning", "set_verbosity_error", "enable_default_handler", "disable_default_handler",
    "enable_propagation", "disable_propagation", "disable_progress_bar", "enable_progress_bar",
    "is_progress_bar_enabled", "are_progress_bars_disabled", "add_handler", "remove_handler", "tqdm",
]

LIBRARY_LOGGER = "leanformers"
_lock = threading.Lock()
_default_handler: logging.Handler | None = None
_progress_bars_disabled = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").upper() in {"1", "ON", "YES", "TRUE"}


class _StderrHandler(logging.Handler):
    """Writes to the current ``sys.stderr`` at each message (so it follows redirections)."""

    def emit(self, record):
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _library_logger() -> logging.Logger:
    return logging.getLogger(LIBRARY_LOGGER)


def _configure():
    """Give the library logger its stderr handler, once (the reference does this at import)."""
    global _default_handler
    with _lock:
        if _default_handler is not None:
            return
        _default_handler = _StderrHandler()
        logger = _library_logger()
        logger.addHandler(_default_handler)
        if logger.level == NOTSET:
            logger.setLevel(WARNING)
        logger.propagate = False


def get_logger(name: str | None = None) -> logging.Logger:
    """The library logger, or a child of it (``get_logger(__name__)`` in a module of leanformers)."""
    if name is None or name == LIBRARY_LOGGER:
        return _library_logger()
    return logging.getLogger(name if name.startswith(LIBRARY_LOGGER + ".") else f"{LIBRARY_LOGGER}.{name}")


def get_verbosity() -> int:
    """The library logger's effective level (``WARNING`` by default)."""
    return _library_logger().getEffectiveLevel()


def set_verbosity(verbosity: int) -> None:
    """Show leanformers' messages of ``verbosity`` and above (``leanformers.logging.INFO``, ...)."""
    if isinstance(verbosity, bool) or not isinstance(verbosity, int):
        raise TypeError(f"verbosity must be a logging level such as leanformers.logging.INFO, not {verbosity!r}.")
    _configure()
    _library_logger().setLevel(verbosity)


def set_verbosity_debug() -> None:
    set_verbosity(DEBUG)


def set_verbosity_info() -> None:
    set_verbosity(INFO)


def set_verbosity_warning() -> None:
    set_verbosity(WARNING)


def set_verbosity_error() -> None:
    set_verbosity(ERROR)


def enable_default_handler() -> None:
    _configure()
    if _default_handler not in _library_logger().handlers:
        _library_logger().addHandler(_default_handler)


def disable_default_handler() -> None:
    _configure()
    _library_logger().removeHandler(_default_handler)


def add_handler(handler: logging.Handler) -> None:
    _library_logger().addHandler(handler)


def remove_handler(handler: logging.Handler) -> None:
    _library_logger().removeHandler(handler)


def enable_propagation() -> None:
    """Pass messages on to the root logger's handlers too (drop the default handler to avoid doubles)."""
    _library_logger().propagate = True


def disable_propagation() -> None:
    _library_logger().propagate = False


def disable_progress_bar() -> None:
    global _progress_bars_disabled
    _progress_bars_disabled = True


def enable_progress_bar() -> None:
    global _progress_bars_disabled
    _progress_bars_disabled = False


def is_progress_bar_enabled() -> bool:
    return not _progress_bars_disabled


def are_progress_bars_disabled() -> bool:
    """huggingface_hub's name for ``not is_progress_bar_enabled()``."""
    return _progress_bars_disabled


def tqdm(*args, **kwargs):
    """A ``tqdm.auto.tqdm`` bar that shows only after a second (``delay=1``), off when progress bars
    are disabled. tqdm is imported on the first call."""
    from tqdm.auto import tqdm as bar

    kwargs.setdefault("delay", 1)
    kwargs["disable"] = kwargs.get("disable", False) or _progress_bars_disabled
    return bar(*args, **kwargs)
