"""Group commit: the ``video`` webhooks that arrive together are recorded in one transaction.

A transaction costs far more than the rows it writes (SQLite: BEGIN IMMEDIATE, the WAL
append at COMMIT; PostgreSQL: the round trips and the commit), so the webhook route hands
its event to the app's ``GroupCommit`` and waits. One flush at a time lets the requests
that have already arrived queue their events, takes everything queued (at most
``max_batch``) and records it with one ``record_video_events``; webhooks arriving meanwhile
queue for the next batch. ``record`` returns only once the transaction holding its event
has committed, so a 202 still means "durably recorded". If the transaction fails, every
webhook of that batch gets the error, none a 202.

Up to ``max_in_flight`` batches (2) of at most ``max_batch`` events (16) are being
committed at once. While one is in the database (SQLite: in the writer process,
``handler.sqlite_writer``), the event loop answers the other's requests and reads the next
ones. With one batch of everything at a time, the 32 connections of the ingest bench moved
in lockstep and the loop sat idle through every commit (a fifth of the time); 16 x 2 kept
it busy (smaller batches cost more per event than they gained). A batch is taken when a
slot frees up, so the wait grows it. The SQLite writer commits batches in the order they
were sent; PostgreSQL's upserts are safe in any order.

The flush and the commits are tasks of their own, but tracked ones: the requests await
their outcome, and ``aclose`` waits for them at shutdown.
"""

from __future__ import annotations

import asyncio

import structlog

from handler.errors import LedgerError
from handler.ledger import LedgerProtocol, VideoEvent
from handler.logs import hot_info_lines

log = structlog.get_logger(__name__)


class GroupCommit:
    def __init__(
        self, ledger: LedgerProtocol, *, max_batch: int = 16, max_in_flight: int = 2
    ) -> None:
        self._ledger = ledger
        self._max_batch = max_batch
        self._queue: list[tuple[VideoEvent, asyncio.Future[bool]]] = []
        self._flush: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self._commits: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.transactions = 0  # committed, for /metrics and tests
        self.events = 0

    async def record(self, event: VideoEvent) -> bool:
        """Record ``event`` in the next group commit; True when its video is new.

        Raises ``LedgerError`` when that transaction failed (nothing of the batch is recorded).
        """
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop  # get_running_loop makes a system call (getpid) on every call
        done: asyncio.Future[bool] = loop.create_future()
        self._queue.append((event, done))
        if self._flush is None or self._flush.done():
            # Started, not run: the requests that are ready in this turn of the event loop
            # queue their events first, and share the transaction.
            self._flush = loop.create_task(self._flush_queue())
        return await done

    async def _flush_queue(self) -> None:
        try:
            # Two turns of the event loop before the first batch: in the first, the
            # requests whose bytes have already arrived are read and get their tasks; in the
            # second, those tasks queue their events. A few microseconds buy a much larger
            # batch: on the ingest bench ~31 events per transaction instead of ~13, and a
            # fifth less CPU per webhook. Whatever queues during a commit is the next batch.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            while self._queue:
                await self._slots.acquire()
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                commit = asyncio.get_running_loop().create_task(self._commit(batch))
                self._commits.add(commit)
                commit.add_done_callback(self._commit_done)
        except BaseException:  # cancelled (the loop is closing): no one gets an answer
            for _, done in self._queue:
                done.cancel()
            self._queue.clear()
            raise

    def _commit_done(self, commit: asyncio.Task[None]) -> None:
        self._commits.discard(commit)
        self._slots.release()

    async def _commit(self, batch: list[tuple[VideoEvent, asyncio.Future[bool]]]) -> None:
        try:
            new = await self._ledger.record_video_events([event for event, _ in batch])
            answers = list(zip((done for _, done in batch), new, strict=True))
        except Exception as exc:
            error = exc if isinstance(exc, LedgerError) else LedgerError(f"{exc!r}")
            log.error("webhook_batch_failed", events=len(batch), error=str(error))
            for _, done in batch:
                if not done.done():
                    done.set_exception(error)
            return
        except BaseException:
            for _, done in batch:
                done.cancel()
            raise
        self.transactions += 1
        self.events += len(batch)
        # The webhooks' canonical lines, one block per batch rather than one call per
        # request: a line a request cost a tenth of the route's throughput.
        hot_info_lines(
            "webhook_accepted",
            (
                {"type": "video", "video_id": event.video_id, "status": event.event_status,
                 "new": is_new, "token_fp": event.token_fp}
                for (event, _), is_new in zip(batch, new, strict=True)
            ),
        )  # fmt: skip
        for done, is_new in answers:
            if not done.done():  # its request may have been cancelled meanwhile
                done.set_result(is_new)

    async def aclose(self) -> None:
        """Wait for the flush in progress, whatever queued behind it, and their commits."""
        if self._flush is not None:
            await self._flush
        while self._commits:
            await asyncio.wait(set(self._commits))
