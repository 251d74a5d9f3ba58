"""`Once` makes its value on the first `get()`, once, however many threads ask at once."""

from __future__ import annotations

import threading
import time

import pytest

from opsloop.core.once import Once


def test_made_on_first_use_once_across_threads() -> None:
    made: list[int] = []

    def make() -> int:
        time.sleep(0.05)  # every thread arrives while the first is still making it
        made.append(1)
        return 42

    once = Once(make)
    assert not once.made and made == []
    got: list[int] = []
    threads = [threading.Thread(target=lambda: got.append(once.get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [42] * 8 and made == [1] and once.made


def test_a_failed_make_is_tried_again_by_the_next_use() -> None:
    calls: list[int] = []

    def make() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("not yet")
        return "ok"

    once = Once(make)
    with pytest.raises(OSError, match="not yet"):
        once.get()
    assert not once.made
    assert once.get() == "ok" and len(calls) == 2
