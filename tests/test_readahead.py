"""The ordered read-ahead behind the SOAP client's later pages and an asset run's windows, on real threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from mlc_dagster.workday.readahead import ReadAhead

WAIT = 5.0  # seconds any one wait may take before the test fails instead of hanging


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Record:
    """What the work did, from whichever thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ran: list[int] = []
        self.finished: list[int] = []
        self.discarded: list[int] = []
        self.done = {i: threading.Event() for i in range(20)}

    def work(self, before: Callable[[int], object] | None = None) -> Callable[[int], int]:
        def run(item: int) -> int:
            with self.lock:
                self.ran.append(item)
            if before is not None:
                before(item)
            with self.lock:
                self.finished.append(item)
            self.done[item].set()
            return item * 10
        return run

    def discard(self, result: int) -> None:
        with self.lock:
            self.discarded.append(result // 10)


def pool_threads(name: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(name)]


def test_results_come_in_order_when_later_items_finish_first() -> None:
    record = Record()

    def late(item: int) -> None:
        if item < 2:  # 0 and 1 finish only after 2 has
            assert record.done[2].wait(WAIT)
            time.sleep(0.02 * (2 - item))  # and 0 after 1

    with ReadAhead(range(6), record.work(late), ahead=3, threads=3, name="order") as results:
        got = list(results)
    assert record.finished[:3] == [2, 1, 0]
    assert got == [0, 10, 20, 30, 40, 50]
    assert results.failure is None and record.discarded == []
    assert not pool_threads("order"), "a closed read-ahead leaves no thread"


def test_at_most_ahead_items_are_worked_on_at_once() -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    gate = threading.Event()

    def work(item: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        gate.wait(WAIT)
        with lock:
            running -= 1
        return item

    # Eight threads, but only three items are ever submitted and not yet handed out.
    with ReadAhead(range(12), work, ahead=3, threads=8, name="bounded") as results:
        until(lambda: running == 3)
        time.sleep(0.1)  # nothing more starts while the consumer takes nothing
        assert (running, most) == (3, 3)
        gate.set()
        assert list(results) == list(range(12))
    assert most == 3


def test_a_failure_ends_the_iteration_after_every_earlier_result() -> None:
    record = Record()

    def fail_at_3(item: int) -> None:
        if item == 3:
            # 4, 5 and 6 (submitted as 0, 1 and 2 are handed out) are done before 3 fails: never handed out.
            assert all(record.done[i].wait(WAIT) for i in (4, 5, 6))
            raise ValueError("item 3 is bad")

    got = []
    with ReadAhead(range(10), record.work(fail_at_3), ahead=4, threads=4, discard=record.discard,
                   name="failing") as results:
        for result in results:
            got.append(result)
        assert list(results) == [], "the iteration stays ended"
    assert got == [0, 10, 20]
    assert isinstance(results.failure, ValueError) and "item 3" in str(results.failure)
    # 0..3 at first, then one more per result handed out (4, 5, 6); nothing after the failure.
    assert sorted(record.ran) == [0, 1, 2, 3, 4, 5, 6]
    assert sorted(record.discarded) == [4, 5, 6]


def test_leaving_early_discards_what_was_read_and_runs_nothing_more() -> None:
    record = Record()
    with ReadAhead(range(3), record.work(), ahead=3, threads=3, discard=record.discard, name="early") as results:
        until(lambda: all(record.done[i].is_set() for i in range(3)))
        for result in results:
            assert result == 0
            break
    assert sorted(record.discarded) == [1, 2], "finished, never consumed: discarded"

    record = Record()
    gate = threading.Event()
    # One thread: while item 1 is under way, 2 and 3 wait in the queue.
    with ReadAhead(range(10), record.work(lambda i: gate.wait(WAIT) if i == 1 else None), ahead=3, threads=1,
                   discard=record.discard, name="queued") as results:
        assert next(results) == 0
        until(lambda: 1 in record.ran)
        threading.Timer(0.1, gate.set).start()  # item 1 ends while the read-ahead is being closed
    assert record.ran == [0, 1], "items not started are not run"
    assert record.discarded == [1], "a result finishing during close is discarded"
    assert not pool_threads("queued")


def test_without_wait_close_returns_at_once_and_the_result_is_discarded_when_done() -> None:
    record = Record()
    gate = threading.Event()
    seen_stopped = []

    def slow(item: int) -> None:
        gate.wait(WAIT)
        seen_stopped.append(results.stopped())

    results = ReadAhead(range(5), record.work(slow), ahead=2, threads=1, discard=record.discard, name="nowait",
                        wait=False)
    with results:
        until(lambda: 0 in record.ran)
    assert results.stopped()
    assert record.discarded == [], "close did not wait for the item under way"
    gate.set()
    until(lambda: record.discarded == [0])
    assert record.ran == [0] and seen_stopped == [True]
    until(lambda: not pool_threads("nowait"))


def test_idle_says_whether_the_next_result_is_ready() -> None:
    gate = threading.Event()

    def work(item: int) -> int:
        gate.wait(WAIT)
        return item

    with ReadAhead([7], work, ahead=2, threads=1, name="idle") as results:
        assert results.idle()
        gate.set()
        until(lambda: not results.idle())
        assert next(results) == 7
        assert results.idle(), "nothing left to wait for"
        with pytest.raises(StopIteration):
            next(results)


def test_work_begins_with_start_and_bounds_are_checked() -> None:
    record = Record()
    results = ReadAhead(range(3), record.work(), ahead=2, threads=1, name="lazy")
    time.sleep(0.05)
    assert record.ran == []
    assert list(results.start()) == [0, 10, 20]
    results.close()
    results.close()  # closing twice is harmless
    with pytest.raises(ValueError, match="ahead"):
        ReadAhead(range(3), record.work(), ahead=0, threads=1)
