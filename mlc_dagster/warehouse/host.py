"""One DuckDB instance per process that attaches warehouse files while someone uses them.

`duckdb.connect(file)` starts a database instance each time no other connection holds that file open
in the process: ~16 ms (the built-in extensions register their functions) before the first query, for
an in-memory database as much as for a file. The warehouse opens short-lived connections on purpose,
so that another process (a second run, an analyst's tool) can take the file's lock between them; so it
paid that start on almost every connection. Here one in-memory instance lives for the process, and a
file is ATTACHed (~2 ms) when its first user arrives and DETACHed (a checkpoint, then the lock is
released) when its last user leaves: the same locking as before, without the start.

Each user gets its own connection to the instance (a cursor) with `USE` set to the file, so SQL names
`raw.x`, `meta.x` as it would with the file opened directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from dataclasses import dataclass

import duckdb

# A window's load (MBs) then goes straight into the file at its commit, instead of into the WAL first
# and into the file again at the checkpoint when the file is detached: ~10% of an 11k-invoice load.
CHECKPOINT_THRESHOLD = "1MB"
# A transaction's rows stay in memory until they fill a row group, which is then written to the file at
# once (DuckDB's optimistic write). At the default 122,880 rows a 100k-invoice window sat whole in memory
# until its commit; at 16,384 its load holds ~30 MB less and takes ~45% less time (708-823 -> 406 ms:
# the row groups are written, and checkpointed, in parallel). Scans gain: bench/detect's six rules over a
# 1M-row history 29.4 -> 20.2 s, over one window 342 -> 321 ms.
ROW_GROUP_SIZE = 16_384


@dataclass
class _Attached:
    alias: str
    read_only: bool
    users: int = 0


class _Host:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.connection = duckdb.connect(":memory:")
        # Times are UTC: TIMESTAMPTZ -> TIMESTAMP casts use the session zone (every cursor inherits it).
        with contextlib.suppress(duckdb.Error):  # UTC is also the zone without ICU
            self.connection.execute("SET GLOBAL TimeZone = 'UTC'")
        self.connection.execute(f"SET GLOBAL checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        self.attached: dict[str, _Attached] = {}


_lock = threading.Condition()
_host: _Host | None = None


def _current() -> _Host:
    global _host
    if _host is None or _host.pid != os.getpid():  # a forked child must not use its parent's instance
        _host = _Host()
    return _host


def _alias(path: str) -> str:
    return "warehouse_" + hashlib.blake2b(path.encode(), digest_size=6).hexdigest()


def attach(path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the file at `path`, attached for as long as any user in
    this process holds one; give it back with `release`. Raises duckdb.IOException ("Could not set
    lock ...") when another process holds the file, as duckdb.connect does. A read-only user shares a
    read-write attachment; a writer waits for read-only users to leave."""
    with _lock:
        host = _current()
        entry = host.attached.get(path)
        while entry is not None and entry.read_only and not read_only:
            _lock.wait()
            host = _current()
            entry = host.attached.get(path)
        if entry is None:
            alias = _alias(path)
            quoted = path.replace("'", "''")
            options = f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}" + (", READ_ONLY" if read_only else "")
            host.connection.execute(f"ATTACH '{quoted}' AS {alias} ({options})")
            entry = host.attached[path] = _Attached(alias, read_only)
        entry.users += 1
        try:
            cursor = host.connection.cursor()
            cursor.execute(f"USE {entry.alias}")
        except BaseException:
            _release(host, path, entry)
            raise
        return cursor


def release(path: str, connection: duckdb.DuckDBPyConnection) -> None:
    """Close a connection from `attach`; the last one out detaches the file."""
    connection.close()
    with _lock:
        host = _current()
        entry = host.attached.get(path)
        if entry is not None:
            _release(host, path, entry)


def _release(host: _Host, path: str, entry: _Attached) -> None:
    entry.users -= 1
    if entry.users == 0:
        del host.attached[path]
        # Checkpoints the file and gives up its lock, as closing its last connection did.
        host.connection.execute(f"DETACH {entry.alias}")
        _lock.notify_all()
