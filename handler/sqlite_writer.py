"""The SQLite ledger's webhook writer: a child process that commits the group commits.

With PostgreSQL the work of recording a batch of webhooks happens in the database server,
another process; the service only waits. With SQLite it happened on the event loop, and
was the largest single cost of a webhook (the ingest route reached ~0.5x a bare route).
So ``autosubs serve`` hands each batch to a child process of its own, which owns one
connection and does nothing else. The event loop serialises the batch, writes it to a
pipe and goes on reading requests while the child commits on the other core.

(A thread with its own connection was measured first and rejected: sqlite3 releases the
GIL while SQLite works, but the Python half of each batch fought the busy event loop for
the GIL, and ingest fell by a third.)

Protocol, over the child's stdin and stdout: frames of a 4-byte big-endian length and a
JSON body. Request: the batch's rows (``sqlite_db.EventRow``). Answer: ``{"new": [...]}``
once the transaction has committed, or ``{"error": "..."}`` when it was rolled back.
So the 202 that follows still means "durably recorded".

Failures: a batch the child cannot commit is a ``LedgerError`` (its webhooks get 503). If
the child dies, the batch in flight gets ``LedgerError`` too (SQLite rolls an unfinished
transaction back) and the next batch starts a new child. The child ignores SIGINT and
SIGTERM: it exits when its stdin closes, which happens when the service closes the
writer or dies, so a signal sent to the whole process group cannot cut a batch short.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sqlite3
import struct
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson

from handler import sqlite_db
from handler.errors import LedgerError

_LENGTH = struct.Struct(">I")
EXIT_TIMEOUT = 10.0
CHECKPOINT_EVERY_S = 0.2  # at most this often
CHECKPOINT_IDLE_S = 5.0  # at least this often


class _Child:
    """One writer process, and the batches sent to it that await their answers, in order."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pending: collections.deque[asyncio.Future[dict[str, Any]]] = collections.deque()
        self.reader = asyncio.get_running_loop().create_task(self._read_answers())

    async def _read_answers(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                (size,) = _LENGTH.unpack(await stdout.readexactly(_LENGTH.size))
                answer = orjson.loads(await stdout.readexactly(size))
                waiter = self.pending.popleft()
                if not waiter.done():  # its batch's requests may have been cancelled
                    waiter.set_result(answer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        code = await self.process.wait()
        # SQLite rolled back the transaction it did not finish: no batch left here counts.
        error = LedgerError(f"the ledger writer process exited (code {code})")
        while self.pending:
            waiter = self.pending.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    @property
    def alive(self) -> bool:
        return not self.reader.done()


class WriterProcess:
    """The service's side: ``await write(rows)`` → per row, whether its video was new.

    Batches may be sent while earlier ones are still being committed: the child takes them
    in order, and each caller gets its own batch's answer.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._child: _Child | None = None
        self._starting = asyncio.Lock()
        self._closed = False
        self.started = 0  # child processes started, for tests

    async def start(self) -> None:
        """Start the child now (it also checkpoints the WAL), rather than with the first batch."""
        await self._running()

    async def write(self, rows: Sequence[sqlite_db.EventRow]) -> list[bool]:
        if not rows:
            return []
        try:
            payload = orjson.dumps(rows)
        except orjson.JSONEncodeError as exc:  # an int beyond 64 bits
            raise LedgerError(f"ledger write failed: {exc}") from exc
        child = await self._running()
        stdin = child.process.stdin
        assert stdin is not None
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        child.pending.append(answer)
        stdin.write(_LENGTH.pack(len(payload)) + payload)
        result = await answer
        if "error" in result:
            raise LedgerError(result["error"])
        new: list[bool] = result["new"]
        return new

    async def _running(self) -> _Child:
        async with self._starting:
            if self._closed:
                raise LedgerError("the ledger writer is closed")
            if self._child is None or not self._child.alive:
                try:
                    process = await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "handler.sqlite_writer", self.path,
                        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    )  # fmt: skip
                except OSError as exc:
                    raise LedgerError(f"cannot start the ledger writer process: {exc}") from exc
                self._child = _Child(process)
                self.started += 1
            return self._child

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.process.pid

    @property
    def in_flight(self) -> int:
        """Batches sent to the child and not yet answered."""
        return 0 if self._child is None else len(self._child.pending)

    async def aclose(self) -> None:
        """Let the batches sent finish, then close the child's stdin and wait for it."""
        self._closed = True
        child, self._child = self._child, None
        if child is None:
            return
        assert child.process.stdin is not None
        child.process.stdin.close()  # the child answers what it has, then sees the end
        try:
            await asyncio.wait_for(asyncio.shield(child.reader), EXIT_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                child.process.kill()
            await child.reader


# --- the child -------------------------------------------------------------------------------


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None  # the service closed the pipe or died
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Checkpointer:
    """Copies the WAL back into the database, on a thread and connection of its own.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL pages, and
    with synchronous=NORMAL it ends with an fsync: a stall of milliseconds for the batch
    (and for every request waiting behind it) every few hundred webhooks. While the writer
    process runs, every connection to the ledger has its automatic checkpoint off and this
    thread checkpoints instead (PASSIVE: it never blocks a writer), shortly after the
    writer's commits and every few seconds in any case, for the sweeper's commits (on the
    service's own connection). sqlite3 releases the GIL while SQLite works, so commits go
    on meanwhile; a checkpoint with nothing to copy costs next to nothing.
    """

    def __init__(self, path: str, *, every: float = CHECKPOINT_EVERY_S) -> None:
        self._db = sqlite_db.connect(path)
        self._every = every
        self._dirty = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        self._dirty.set()

    def _run(self) -> None:
        while not self._stopping:
            self._dirty.wait(CHECKPOINT_IDLE_S)
            self._dirty.clear()
            with contextlib.suppress(sqlite3.Error):  # busy or closing: the next one will do
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            time.sleep(self._every)

    def close(self) -> None:
        self._stopping = True
        self._dirty.set()
        self._thread.join()
        self._db.close()


def serve(path: str, rfd: int = 0, wfd: int = 1) -> int:
    """Commit the batches that arrive on ``rfd`` until it closes; answer each on ``wfd``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        db = sqlite_db.connect(path, autocheckpoint=False)
        checkpointer = Checkpointer(path)
    except sqlite3.Error as exc:
        print(f"autosubs ledger writer: cannot open {path}: {exc}", file=sys.stderr)
        return 1
    try:
        while True:
            head = _read_exactly(rfd, _LENGTH.size)
            if head is None:
                return 0
            body = _read_exactly(rfd, _LENGTH.unpack(head)[0])
            if body is None:
                return 0
            answer: dict[str, Any]
            try:
                rows = [tuple(row) for row in orjson.loads(body)]
                answer = {"new": sqlite_db.record_event_rows(db, rows)}  # type: ignore[arg-type]
            except LedgerError as exc:
                answer = {"error": str(exc)}
            payload = orjson.dumps(answer)
            _write_all(wfd, _LENGTH.pack(len(payload)) + payload)
            checkpointer.committed()
    finally:
        checkpointer.close()
        db.close()


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
