"""Progress bars: ``tqdm.auto`` everywhere, quieter when the output is a log, not a terminal.

In a terminal or a notebook the bar updates as usual. When stderr is a file or a pipe (CI logs,
``make demo | tee``), a carriage-return bar would print one segment per update, so there the
bar prints its start, then at most every ``LOG_INTERVAL`` seconds (postfix and description
changes wait for the next refresh), and its final state when it closes.
"""

from __future__ import annotations

import sys
from typing import Any

#: Seconds between refreshes when stderr is not a terminal (and not a notebook).
LOG_INTERVAL = 30.0

_LOG_CLASS = None


def _log_class():
    """A ``tqdm.std.tqdm`` whose postfix/description setters do not force a refresh."""
    global _LOG_CLASS
    if _LOG_CLASS is None:
        from tqdm.std import tqdm as std_tqdm

        class _LogTqdm(std_tqdm):
            def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
                super().set_postfix_str(s, refresh=False)

            def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
                super().set_postfix(ordered_dict, refresh=False, **kwargs)

            def set_description(self, desc=None, refresh: bool = True) -> None:
                super().set_description(desc, refresh=False)

        _LOG_CLASS = _LogTqdm
    return _LOG_CLASS


def tqdm(*args: Any, **kwargs: Any):
    """``tqdm.auto.tqdm(*args, **kwargs)``, or a quiet bar when writing to a log.

    In a notebook without ipywidgets, ``tqdm.auto`` falls back to text bars; its TqdmWarning
    about the missing widgets is not shown (text bars are what this module wants there).
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from tqdm.auto import tqdm as auto_tqdm

    if not any(c.__module__ == "tqdm.notebook" for c in auto_tqdm.__mro__):  # not a widget
        out = kwargs.get("file") or sys.stderr
        isatty = getattr(out, "isatty", None)
        if not (callable(isatty) and isatty()):
            kwargs.setdefault("mininterval", LOG_INTERVAL)
            return _log_class()(*args, **kwargs)
    return auto_tqdm(*args, **kwargs)
