"""Pacing for chat.postMessage: one message per interval per channel, channels in parallel.

- Each channel has a next free slot; a sender waits for its channel's slot (a timed wait on a condition,
  never a polling loop), and taking the slot books the next one `interval` later.
- A 429 pauses that channel for its `Retry-After` seconds.
- A workspace-wide backoff: when 429s hit `workspace_after` different channels within one Retry-After
  period, the limit being hit is the workspace's, so every channel pauses until it passes.
- `stop()` wakes every waiter at once (the token was refused: nothing more may be posted).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    def __init__(self, interval: float, *, margin: float = 0.05, workspace_after: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = max(0.0, interval)
        # Our clock starts a slot when the request leaves; Slack's when it arrives. A margin keeps jitter
        # in the network and the server from turning into 429s: at 20 ms, 5 channels in parallel met ~6
        # 429s per 150 posts (and workspace pauses: 0.87 of the limit); at 50 ms, ~1 and none (0.94).
        self.margin = min(margin, interval / 10)
        self.workspace_after = workspace_after
        self.clock = clock
        self._cond = threading.Condition()
        self._next: dict[str, float] = {}
        self._workspace_until = 0.0
        self._limited_at: dict[str, tuple[float, float]] = {}  # channel -> (when, retry_after)
        self._stopped = False
        self.workspace_pauses = 0
        self.waited_seconds = 0.0

    def wait_turn(self, channel: str) -> bool:
        """Block until `channel` may post, then book its next slot. False once stopped."""
        with self._cond:
            while True:
                if self._stopped:
                    return False
                now = self.clock()
                ready = max(self._next.get(channel, 0.0), self._workspace_until)
                if ready <= now:
                    self._next[channel] = now + self.interval + self.margin
                    return True
                self.waited_seconds += ready - now
                self._cond.wait(ready - now)

    def rate_limited(self, channel: str, retry_after: float) -> None:
        """Slack answered 429 for `channel`: pause it, and the workspace if several channels are limited."""
        with self._cond:
            now = self.clock()
            self._next[channel] = max(self._next.get(channel, 0.0), now + retry_after)
            self._limited_at[channel] = (now, retry_after)
            recent = [c for c, (at, wait) in self._limited_at.items() if now - at <= max(wait, self.interval)]
            if len(recent) >= self.workspace_after and self._workspace_until < now + retry_after:
                self._workspace_until = now + retry_after
                self.workspace_pauses += 1
            self._cond.notify_all()

    def pause(self, seconds: float) -> bool:
        """Wait `seconds` (a backoff) unless stopped first; False when stopped."""
        with self._cond:
            deadline = self.clock() + seconds
            while not self._stopped:
                left = deadline - self.clock()
                if left <= 0:
                    return True
                self._cond.wait(left)
            return False

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        with self._cond:
            return self._stopped
