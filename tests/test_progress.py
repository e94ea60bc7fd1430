"""Progress bars stay readable in logs: a start and a final line, not one segment per update."""

from __future__ import annotations

import io

from haowurank._progress import tqdm


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _segments(out: io.StringIO) -> int:
    return out.getvalue().count("\r")


def test_bar_in_a_log_prints_start_and_end_only():
    log = io.StringIO()
    bar = tqdm(total=200, file=log, desc="work")
    for i in range(200):
        bar.set_postfix_str(f"step {i}")
        bar.update(1)
    bar.close()
    assert _segments(log) <= 2 and "200/200" in log.getvalue()


def test_bar_in_a_terminal_updates():
    term = _Tty()
    bar = tqdm(total=200, file=term, desc="work", mininterval=0)
    for i in range(200):
        bar.set_postfix_str(f"step {i}")
        bar.update(1)
    bar.close()
    assert _segments(term) > 50
