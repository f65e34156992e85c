"""One step of a claimed track job: create its task, poll it, attach its track, cancel it.

Every step records its outcome under the lease the sweeper claimed; the decisions come
from ``pipeline`` (pure), the facts from Gcore.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from handler import languages, pipeline
from handler.config import Settings
from handler.errors import GcoreError, GcoreUnavailable, LedgerError
from handler.gcore import AiTask, GcoreClient
from handler.ledger import LeaseLost, LedgerProtocol, TrackJob, VideoJob
from handler.subtitles import VttError

log = structlog.get_logger(__name__)

_MAX_ERRORS = 12  # consecutive unexpected errors before a job is failed for good
_AUTH_RETRY = 600.0  # a rejected API key: look again in ten minutes
_FRESH_TRACK_LIST = 300.0  # seconds a look at the video's tracks stays good for attaching


def transient_base(settings: Settings) -> float:
    """First delay after a busy or unreachable Gcore: sooner than a failed task's retry."""
    return min(settings.retry_base, 2 * settings.poll_floor)


class PairSupport:
    """Whether Gcore can translate a language pair, asked once per pair (cached)."""

    def __init__(self, gcore: GcoreClient) -> None:
        self._gcore = gcore
        self._known: dict[tuple[str, str], bool] = {}

    async def supported(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        for pair in pairs:
            if pair not in self._known:
                self._known[pair] = await self._gcore.language_supported(*pair)
        return {pair: self._known[pair] for pair in pairs}


class TrackSteps:
    """What the sweeper does with a claimed track job, one step per claim."""

    def __init__(
        self,
        settings: Settings,
        ledger: LedgerProtocol,
        gcore: GcoreClient,
        *,
        owner: str,
        clock: Callable[[], float],
        pairs: PairSupport,
        wake: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.gcore = gcore
        self.owner = owner
        self.clock = clock
        self.pairs = pairs
        self.task_model = pipeline.TaskTimeModel()
        self._wake = wake
        self._lease = settings.lease_seconds

    async def advance(self, job: TrackJob) -> None:
        """One step of a claimed track job; its failures become ledger state."""
        with structlog.contextvars.bound_contextvars(
            video_id=job.video_id, target=job.target, state=job.state
        ):
            try:
                await self._advance_track(job)
            except LeaseLost as exc:
                log.info("lease_lost", detail=str(exc))
            except GcoreUnavailable as exc:
                # A create whose outcome is unknown may still land on Gcore: look for it
                # only once it has surely landed or died, so it is adopted, not doubled.
                wait = max(2 * self.settings.gcore_timeout, 5.0) if exc.ambiguous else None
                await self._track_later(job, str(exc), delay=wait)
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
            delay = pipeline.retry_delay(job.errors + 1, base=transient_base(self.settings))
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
        await self.ledger.update_track(
            job, self.owner, state="creating", release=False, renew_for=self._lease, now=now
        )
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
                    + pipeline.retry_delay(job.errors + 1, base=transient_base(self.settings)),
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
            await self.ledger.update_track(
                job, self.owner, task_done_at=now, release=False, renew_for=self._lease
            )
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
        existing = pipeline.existing_tracks(await self.gcore.list_subtitles(job.video_id))
        return await self._drop_our_duplicates(job.video_id, existing)

    async def _drop_our_duplicates(
        self, video_id: int, existing: list[pipeline.ExistingTrack]
    ) -> list[pipeline.ExistingTrack]:
        """Keep one track of ours per language (the oldest); delete the copies.

        A copy can only come from one of our own requests that reached Gcore after we gave
        up on it; tracks made by anyone else are never touched.
        """
        keep: list[pipeline.ExistingTrack] = []
        ours_seen: set[str] = set()
        for track in sorted(existing, key=lambda t: t.subtitle_id):
            if track.ours and track.language in ours_seen:
                await self.gcore.delete_subtitle(video_id, track.subtitle_id)
                log.warning("duplicate_track_removed", subtitle_id=track.subtitle_id,
                            language=track.language)  # fmt: skip
                continue
            if track.ours:
                ours_seen.add(track.language)
            keep.append(track)
        return keep

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
            supported = await self.pairs.supported(
                [(detected, t) for t in waiting if t != detected]
            )
            if existing is None:
                existing = pipeline.existing_tracks(await self.gcore.list_subtitles(job.video_id))
        decisions = pipeline.settle_translations(
            waiting, source=detected, outcome=outcome, existing=existing or [], supported=supported
        )
        await self.ledger.finish_source(
            job, self.owner, translations=decisions, source_language=detected, **fields
        )
        if any(state == "planned" for state, _ in decisions.values()):
            self._wake()

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
