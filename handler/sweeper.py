"""The scheduled loop: claim due jobs with a lease, advance each one step, sleep.

Each step asks Gcore for facts, asks ``pipeline`` what they mean, and records the outcome
in the ledger under the lease it claimed. A failure inside one job becomes ledger state and
one log line; it never ends the pass. Videos are planned here; track jobs are advanced by
``track_steps``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog

from handler import languages, pipeline
from handler.config import Settings
from handler.errors import GcoreError, GcoreUnavailable, LedgerError
from handler.gcore import GcoreClient
from handler.ledger import LeaseLost, LedgerProtocol, VideoJob
from handler.track_steps import PairSupport, TrackSteps, transient_base

log = structlog.get_logger(__name__)

_CONCURRENCY = 8
_MAX_ROUNDS = 20  # claim rounds per pass; what is still due waits for the next pass
_AUTH_RETRY = 600.0  # a rejected API key: look again in ten minutes
_RENDITION_RECHECK = 60.0  # fallback look at a video still transcoding; webhooks come sooner


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Sweeper:
    def __init__(
        self,
        settings: Settings,
        ledger: LedgerProtocol,
        gcore: GcoreClient,
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.gcore = gcore
        self.owner = owner or default_owner()
        self.clock = clock
        self.passes = 0
        self.last_pass_at: float | None = None
        self.pairs = PairSupport(gcore)
        self.tracks = TrackSteps(
            settings, ledger, gcore, owner=self.owner, clock=clock, pairs=self.pairs,
            wake=self.wake,
        )  # fmt: skip
        self._wake = asyncio.Event()
        self._semaphore = asyncio.Semaphore(_CONCURRENCY)

    def wake(self) -> None:
        """New work was recorded: do not wait for the tick."""
        self._wake.set()

    # --- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        log.info("sweeper_started", owner=self.owner, interval=self.settings.sweep_interval)
        while not stop.is_set():
            self._wake.clear()
            try:
                worked = await self.sweep_once(stop)
                delay = await self._sleep_for(worked)
            except LedgerError as exc:
                # The database may be briefly locked or restarting: say so, try next tick.
                log.error("sweep_ledger_error", error=str(exc))
                delay = self.settings.sweep_interval
            stop_wait = asyncio.ensure_future(stop.wait())
            wake_wait = asyncio.ensure_future(self._wake.wait())
            await asyncio.wait({stop_wait, wake_wait}, timeout=delay, return_when="FIRST_COMPLETED")
            for waiter in (stop_wait, wake_wait):
                waiter.cancel()
        try:
            released = await self.ledger.release_all(self.owner)
        except LedgerError as exc:
            log.error("lease_release_failed", error=str(exc))
        else:
            log.info("sweeper_stopped", owner=self.owner, released=released)

    async def _sleep_for(self, worked: int) -> float:
        """Until the next job is due (never longer than the interval).

        Jobs can be due yet unclaimable (task capacity full, or leased by another replica):
        after a pass that found nothing to do, wait at least the poll floor instead of
        spinning on them. A job due in the future is slept to exactly.
        """
        interval = self.settings.sweep_interval
        due = await self.ledger.next_due_at()
        if due is None:
            return interval
        wait = due - self.clock()
        if wait <= 0 and worked == 0:
            return min(self.settings.poll_floor, interval)
        return min(interval, max(0.0, wait))

    async def sweep_once(self, stop: asyncio.Event | None = None) -> int:
        """One pass: work every job that is due now. Returns how many job steps ran.

        When ``stop`` is set, no new jobs are claimed; the steps in hand finish.
        """
        worked = 0
        for _ in range(_MAX_ROUNDS):
            if stop is not None and stop.is_set():
                break
            now = self.clock()
            videos = await self.ledger.claim_videos(
                self.owner,
                limit=self.settings.batch_size,
                lease_seconds=self.settings.lease_seconds,
                now=now,
            )
            await self._all([self._guarded_video(v) for v in videos])
            tracks = await self.ledger.claim_tracks(
                self.owner,
                limit=self.settings.batch_size,
                lease_seconds=self.settings.lease_seconds,
                now=self.clock(),
                # Gcore refuses new tasks past its queue limit: new ones wait for room.
                max_active=self.settings.max_active_tasks,
            )
            await self._all([self.tracks.advance(t) for t in tracks])
            worked += len(videos) + len(tracks)
            if not videos and not tracks:
                break
        self.passes += 1
        self.last_pass_at = self.clock()
        return worked

    async def _all(self, steps: list[Awaitable[None]]) -> None:
        async def bounded(step: Awaitable[None]) -> None:
            async with self._semaphore:
                await step

        await asyncio.gather(*(bounded(s) for s in steps))

    # --- videos ---------------------------------------------------------------------------

    async def _guarded_video(self, job: VideoJob) -> None:
        with structlog.contextvars.bound_contextvars(video_id=job.video_id):
            try:
                await self._advance_video(job)
            except LeaseLost as exc:
                log.info("lease_lost", detail=str(exc))
            except GcoreUnavailable as exc:
                await self._video_later(job, str(exc), transient_base(self.settings) * 2)
            except GcoreError as exc:
                if exc.status in (401, 403):
                    await self._video_later(job, str(exc), _AUTH_RETRY)
                else:
                    await self.ledger.update_video(
                        job.video_id, self.owner, state="rejected", reason=str(exc)
                    )
                    log.warning("video_rejected", reason=str(exc))

    async def _video_later(self, job: VideoJob, reason: str, delay: float) -> None:
        log.warning("video_retry_later", reason=reason, delay=delay)
        await self.ledger.update_video(
            job.video_id, self.owner, reason=reason, next_run_at=self.clock() + delay
        )

    async def _advance_video(self, job: VideoJob) -> None:
        now = self.clock()
        try:
            video = await self.gcore.get_video(job.video_id)
        except GcoreError as exc:
            if exc.status == 404:
                # A forged or foreign id: it is not on our account, so nothing starts.
                await self.ledger.update_video(
                    job.video_id,
                    self.owner,
                    state="rejected",
                    reason="not found on this Gcore account (404)",
                )
                log.warning("video_not_on_account")
                return
            raise
        choice = pipeline.choose_rendition(video, self.settings.preferred_height)
        if choice.rendition is None:
            waited = now - job.created_at
            if choice.wait and waited < self.settings.rendition_timeout:
                await self.ledger.defer_video(
                    job, self.owner, delay=_RENDITION_RECHECK, state="waiting", reason=choice.reason
                )
                return
            reason = choice.reason if not choice.wait else f"gave up: {choice.reason}"
            await self.ledger.update_video(
                job.video_id, self.owner, state="rejected", reason=reason
            )
            log.warning("video_rejected", reason=reason)
            return
        existing = pipeline.existing_tracks(await self.gcore.list_subtitles(job.video_id))
        source = (
            None if job.profile.audio_language == languages.AUTO else job.profile.audio_language
        )
        supported = await self.pairs.supported(pipeline.pairs_to_check(job.profile, source))
        plans = pipeline.plan_tracks(job.profile, existing, supported)
        await self.ledger.plan_video(
            job.video_id,
            self.owner,
            plans,
            reason=None,
            mp4_url=choice.rendition.mp4_url,
            duration_s=(video.duration or 0) / 1000.0 or None,
            source_language=source,
            existing=[e.as_dict() for e in existing],
        )
        log.info(
            "video_planned",
            rendition=choice.rendition.name,
            tracks={p.target: p.state for p in plans},
        )
