"""Ordered read-ahead: work done on a few threads a bounded number of items ahead of its consumer.

Two readers use it: the SOAP client for pages 2..N of a window (`soap.WorkdaySoapClient.fetch_window`),
and an asset run for its windows (`defs.workday.assets`). In both, sockets, lxml, libxslt, Arrow and
DuckDB release the interpreter lock for most of their work, so a result being made overlaps the
consumer's use of the one before; and in both, what was made but not used must not be left behind
(a stage's files on disk, a page's calls in the window's counts).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["ReadAhead"]


class ReadAhead(Generic[T, R]):
    """`work(item)` for each of `items`, on `threads` threads, at most `ahead` results submitted and
    not yet handed out; iterating yields the results in the items' order. Work begins with `start()`
    (or entering the `with`), so `work` may use the object (e.g. `stopped`) once it is made.

    The first failure ends the iteration, after every result before it has been yielded, and is kept
    in `failure` (the consumer decides whether to raise it). `close()` (leaving the `with`) cancels the
    work not started, turns `stopped()` true (work under way may give up early, e.g. not retry), and
    hands every result not yielded to `discard` once it is ready: with `wait` close waits for the work
    under way (its threads are gone when it returns; `discard` runs on the closing thread), without it
    close returns at once and such a result is discarded on its worker thread when it is done.
    """

    def __init__(self, items: Iterable[T], work: Callable[[T], R], *, ahead: int, threads: int,
                 discard: Callable[[R], None] | None = None, name: str = "read-ahead", wait: bool = True) -> None:
        if ahead < 1 or threads < 1:
            raise ValueError(f"read-ahead needs ahead >= 1 and threads >= 1, not {ahead} and {threads}")
        self.failure: BaseException | None = None
        self._items = iter(items)
        self._work = work
        self._discard = discard
        self._wait = wait
        self._pending: deque[Future[R]] = deque()
        self._stop = threading.Event()
        self._ahead = ahead
        self._started = False
        self._pool = ThreadPoolExecutor(max_workers=min(threads, ahead), thread_name_prefix=name)

    def start(self) -> ReadAhead[T, R]:
        if not self._started:
            self._started = True
            self._submit(self._ahead)
        return self

    def _submit(self, count: int) -> None:
        if self._stop.is_set():
            return
        for item in itertools.islice(self._items, count):
            self._pending.append(self._pool.submit(self._work, item))

    def stopped(self) -> bool:
        """Closed: nobody will take a result any more."""
        return self._stop.is_set()

    def idle(self) -> bool:
        """The next result is not ready yet (or there is none): a good moment for other work."""
        return not self._pending or not self._pending[0].done()

    def __iter__(self) -> Iterator[R]:
        return self

    def __next__(self) -> R:
        if self.failure is not None or not self._pending or self._stop.is_set():
            raise StopIteration
        future = self._pending[0]
        # Waits. An interrupt of the consumer here propagates, and the future stays for close to discard.
        error = future.exception()
        self._pending.popleft()
        if error is not None:
            self.failure = error
            raise StopIteration
        self._submit(1)
        return future.result()

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        pending, self._pending = self._pending, deque()
        for future in pending:
            future.cancel()
        self._pool.shutdown(wait=self._wait, cancel_futures=True)
        if self._discard is not None:
            for future in pending:  # called at once for what is done (all of them, with `wait`)
                future.add_done_callback(self._discarded)

    def _discarded(self, future: Future[R]) -> None:
        if not future.cancelled() and future.exception() is None:
            assert self._discard is not None
            self._discard(future.result())

    def __enter__(self) -> ReadAhead[T, R]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
