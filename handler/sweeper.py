"""The scheduled loop: claim due jobs with a lease, advance each one step, sleep.

Each step asks Gcore for facts, asks ``pipeline`` what they mean, and records the outcome
in the ledger under the lease it claimed. A failure inside one job becomes ledger state and
one log line; it never ends the pass.
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
from handler.gcore import AiTask, GcoreClient
from handler.ledger import LeaseLost, LedgerProtocol, TrackJob, VideoJob
from handler.subtitles import VttError

log = structlog.get_logger(__name__)

_CONCURRENCY = 8
_MAX_ROUNDS = 20  # claim rounds per pass; what is still due waits for the next pass
_MAX_ERRORS = 12  # consecutive unexpected errors before a job is failed for good
_AUTH_RETRY = 600.0  # a rejected API key: look again in ten minutes
_FRESH_TRACK_LIST = 300.0  # seconds a look at the video's tracks stays good for attaching
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
        self.task_model = pipeline.TaskTimeModel()
        self.passes = 0
        self.last_pass_at: float | None = None
        self._supported: dict[tuple[str, str], bool] = {}
        self._wake = asyncio.Event()
        self._semaphore = asyncio.Semaphore(_CONCURRENCY)

    @property
    def _transient_base(self) -> float:
        # Busy or unreachable Gcore: come back soon, sooner than a failed task is re-created.
        return min(self.settings.retry_base, 2 * self.settings.poll_floor)

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
            await self._all([self._guarded_track(t) for t in tracks])
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
                await self._video_later(job, str(exc), self._transient_base * 2)
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
        supported = await self._pair_support(pipeline.pairs_to_check(job.profile, source))
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

    async def _pair_support(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        """Ask Gcore once per language pair whether it can translate it (cached)."""
        for pair in pairs:
            if pair not in self._supported:
                self._supported[pair] = await self.gcore.language_supported(*pair)
        return {pair: self._supported[pair] for pair in pairs}

    # --- tracks ---------------------------------------------------------------------------

    async def _guarded_track(self, job: TrackJob) -> None:
        with structlog.contextvars.bound_contextvars(
            video_id=job.video_id, target=job.target, state=job.state
        ):
            try:
                await self._advance_track(job)
            except LeaseLost as exc:
                log.info("lease_lost", detail=str(exc))
            except GcoreUnavailable as exc:
                await self._track_later(job, str(exc))
            except GcoreError as exc:
                if exc.status in (401, 403):
                    await self._track_later(job, str(exc), delay=_AUTH_RETRY)
                else:
                    await self._fail(job, str(exc))
            except LedgerError:
                raise
            except Exception as exc:
                log.exception("track_step_crashed")
                if job.errors + 1 >= _MAX_ERRORS:
                    await self._fail(job, f"internal error: {exc!r}")
                else:
                    await self._track_later(job, f"internal error: {exc!r}")

    async def _track_later(self, job: TrackJob, reason: str, delay: float | None = None) -> None:
        if delay is None:
            delay = pipeline.retry_delay(job.errors + 1, base=self._transient_base)
        log.warning("track_retry_later", reason=reason, delay=delay)
        await self.ledger.update_track(
            job, self.owner, errors=job.errors + 1, reason=reason, next_run_at=self.clock() + delay
        )

    async def _fail(self, job: TrackJob, reason: str) -> None:
        log.warning("job_failed", reason=reason)
        if job.kind == "transcription":
            await self._finish_transcription(job, f"failed: {reason}", None, state="failed",
                                             reason=reason)  # fmt: skip
        else:
            await self.ledger.update_track(job, self.owner, state="failed", reason=reason)

    async def _advance_track(self, job: TrackJob) -> None:
        video = await self.ledger.get_video(job.video_id)
        if video is None:
            await self._fail(job, "its video is missing from the ledger")
            return
        if job.state == "planned":
            await self._start_task(job, video, search_first=False)
        elif job.state == "creating":
            await self._start_task(job, video, search_first=True)
        elif job.state == "task_started":
            await self._poll(job, video)
        elif job.state == "cancelling":
            await self._cancel(job)

    async def _find_ours(self, job: TrackJob, attempt: int) -> AiTask | None:
        marker = pipeline.job_marker(job.video_id, job.target, attempt)
        for task in await self.gcore.find_tasks(marker):
            if task.task_data and task.task_data.client_user_id == marker:
                return task
        return None

    async def _start_task(self, job: TrackJob, video: VideoJob, *, search_first: bool) -> None:
        now = self.clock()
        attempt = job.attempts + 1
        if search_first:
            # A create may have reached Gcore before we crashed or lost the answer.
            found = await self._find_ours(job, attempt)
            if found is not None:
                log.info("task_adopted", task_id=found.task_id)
                await self._record_started(job, video, found.task_id, attempt, now)
                return
        if not video.mp4_url:
            await self._fail(job, "no MP4 rendition recorded for the video")
            return
        source = video.source_language
        translating = job.kind == "translation"
        # Record the intent first: after a crash, "creating" means "look on Gcore first".
        await self.ledger.update_track(job, self.owner, state="creating", release=False, now=now)
        try:
            task_id = await self.gcore.create_task(
                url=video.mp4_url,
                audio_language=source,
                subtitles_language=job.language if translating else None,
                client_user_id=pipeline.job_marker(job.video_id, job.target, attempt),
                client_entity_data=pipeline.entity_data(
                    job.video_id, job.target, attempt, video.profile
                ),
            )
        except GcoreUnavailable as exc:
            if exc.status is not None and (exc.status == 429 or exc.status == 400):
                # Refused outright (rate or queue limit): nothing was created.
                await self.ledger.update_track(
                    job,
                    self.owner,
                    state="planned",
                    errors=job.errors + 1,
                    reason=str(exc),
                    next_run_at=self.clock()
                    + pipeline.retry_delay(job.errors + 1, base=self._transient_base),
                )
                return
            raise
        await self._record_started(job, video, task_id, attempt, now)

    async def _record_started(
        self, job: TrackJob, video: VideoJob, task_id: str, attempt: int, now: float
    ) -> None:
        expected = self.task_model.expected(video.duration_s)
        first_poll = pipeline.next_poll_delay(
            progress=None,
            running_for=None,
            created_ago=0.0,
            expected_total=expected,
            floor=self.settings.poll_floor,
            ceiling=self.settings.poll_ceiling,
        )
        await self.ledger.update_track(
            job,
            self.owner,
            state="task_started",
            task_id=task_id,
            attempts=attempt,
            errors=0,
            progress=0,
            polls=0,
            reason=None,
            task_created_at=now,
            next_run_at=now + first_poll,
        )
        log.info("task_started", task_id=task_id, attempt=attempt, first_poll=round(first_poll, 2))

    async def _poll(self, job: TrackJob, video: VideoJob) -> None:
        assert job.task_id is not None
        now = self.clock()
        try:
            task = await self.gcore.get_task(job.task_id)
        except GcoreError as exc:
            if exc.status != 404:
                raise
            await self._task_failed(job, "the task vanished on Gcore (404)")
            return
        created_at = job.task_created_at or now
        if not task.terminal:
            if now - created_at > self.settings.task_timeout:
                await self.gcore.cancel_task(job.task_id)
                await self._task_failed(
                    job, f"did not finish within {self.settings.task_timeout:.0f} s"
                )
                return
            started = task.processing_time.started_at if task.processing_time else None
            running_for = now - started.timestamp() if started else None
            delay = pipeline.next_poll_delay(
                progress=task.progress,
                running_for=running_for,
                created_ago=now - created_at,
                expected_total=self.task_model.expected(video.duration_s),
                floor=self.settings.poll_floor,
                ceiling=self.settings.poll_ceiling,
                previous_progress=job.progress,
                since_previous=now - job.updated_at,
                paused=task.status != "STARTED",
                two_stage=job.kind == "transcription"
                and video.profile.audio_language == languages.AUTO,
            )
            await self.ledger.update_track(
                job,
                self.owner,
                progress=task.progress,
                polls=job.polls + 1,
                errors=0,
                next_run_at=now + delay,
            )
            return
        if task.status != "SUCCESS":
            await self._task_failed(job, pipeline.failure_reason(task.result, task.status))
            return
        completed = task.processing_time.completed_at if task.processing_time else None
        # Learn from when Gcore finished, not from when we happened to look.
        self.task_model.learn(
            video.duration_s, (completed.timestamp() if completed else now) - created_at
        )
        await self._succeeded(job, video, task, now)

    async def _task_failed(self, job: TrackJob, reason: str) -> None:
        if job.attempts < self.settings.max_task_attempts:
            delay = pipeline.retry_delay(job.attempts, base=self.settings.retry_base)
            log.warning("task_failed_retrying", reason=reason, delay=delay)
            await self.ledger.update_track(
                job,
                self.owner,
                state="planned",
                reason=f"retrying after: {reason}",
                next_run_at=self.clock() + delay,
            )
            return
        await self._fail(job, f"{reason} (after {job.attempts} attempts)")

    async def _succeeded(self, job: TrackJob, video: VideoJob, task: AiTask, now: float) -> None:
        result = task.result or {}
        language = job.language or pipeline.detected_language(result, video.source_language)
        speech = result.get("speech_detected") is not False
        if speech and language is None:
            await self._task_failed(job, "Gcore reported no recognisable spoken language")
            return
        try:
            text = pipeline.track_text(result, language or "und", video.profile.qc)
        except VttError as exc:
            await self._task_failed(job, f"unusable subtitles from Gcore: {exc}")
            return
        common = {
            "polls": job.polls + 1,
            "progress": 100,
            "task_done_at": now,
            "language": language,
            "qc": text.qc,
        }
        if text.no_speech or language is None:
            log.info("no_speech", task_id=task.task_id)
            if job.kind == "transcription":
                await self._finish_transcription(
                    job, "no_speech", language, state="skipped", reason="no_speech", **common
                )
            else:
                await self.ledger.update_track(
                    job, self.owner, state="skipped", reason="no_speech", **common
                )
            return
        assert text.vtt is not None
        existing = await self._existing_before_attach(job, video, now)
        settled = pipeline.settle_language(language, existing)
        if settled is not None:
            state, reason, subtitle_id = settled.state, settled.reason, settled.subtitle_id
        else:
            # The attach intent: a crash after the POST makes the next attempt list first.
            await self.ledger.update_track(job, self.owner, task_done_at=now, release=False)
            created = await self.gcore.create_subtitle(
                job.video_id, name=languages.track_name(language), language=language, vtt=text.vtt
            )
            state, reason, subtitle_id = "attached", None, created.id
        fields = {**common, "state": state, "reason": reason, "subtitle_id": subtitle_id}
        if job.kind == "transcription":
            await self._finish_transcription(job, "ok", language, existing=existing, **fields)
        else:
            await self.ledger.update_track(job, self.owner, **fields)
        log.info("track_attached" if state == "attached" else "track_settled", state=state,
                 language=language, subtitle_id=subtitle_id, source=text.source)  # fmt: skip

    async def _existing_before_attach(
        self, job: TrackJob, video: VideoJob, now: float
    ) -> list[pipeline.ExistingTrack]:
        """The video's tracks as they matter for attaching ours.

        Listed again when a previous attempt may have POSTed already (its intent is on
        record) or when our last look is old; otherwise the look taken at planning (or
        after the transcription) is recent enough and saves a call per track.
        """
        if job.task_done_at is None and now - video.updated_at < _FRESH_TRACK_LIST:
            return [pipeline.ExistingTrack.from_dict(e) for e in video.existing]
        return pipeline.existing_tracks(await self.gcore.list_subtitles(job.video_id))

    async def _finish_transcription(
        self,
        job: TrackJob,
        outcome: str,
        detected: str | None,
        *,
        existing: list[pipeline.ExistingTrack] | None = None,
        **fields: object,
    ) -> None:
        """Record the transcription and decide the translations that waited for it."""
        waiting = [t.target for t in await self.ledger.tracks_of(job.video_id)
                   if t.state == "waiting"]  # fmt: skip
        supported: dict[tuple[str, str], bool] = {}
        if outcome == "ok" and detected and waiting:
            supported = await self._pair_support([(detected, t) for t in waiting if t != detected])
            if existing is None:
                existing = pipeline.existing_tracks(await self.gcore.list_subtitles(job.video_id))
        decisions = pipeline.settle_translations(
            waiting, source=detected, outcome=outcome, existing=existing or [], supported=supported
        )
        await self.ledger.finish_source(
            job, self.owner, translations=decisions, source_language=detected, **fields
        )
        if any(state == "planned" for state, _ in decisions.values()):
            self.wake()

    async def _cancel(self, job: TrackJob) -> None:
        """The video was deleted: cancel our task(s) on Gcore, then the job."""
        task_ids = {job.task_id} if job.task_id else set()
        found = await self._find_ours(job, job.attempts + 1)
        if found is not None:
            task_ids.add(found.task_id)
        for task_id in sorted(t for t in task_ids if t):
            cancelled = await self.gcore.cancel_task(task_id)
            log.info("task_cancelled", task_id=task_id, cancelled=cancelled)
        await self.ledger.update_track(job, self.owner, state="cancelled", reason="video deleted")
