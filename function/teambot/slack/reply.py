"""Step "Slack reply" of the worker: stream an answer into a Slack thread.

`SlackReply` keeps what every way of writing shares (the text, which part of it the current
message holds, what Slack shows, the thinking steps) and hands the writing to one writer object,
chosen at the first visible text by what Slack allows and what the budget (write_budget.py) has:

  * `_NativeWriter`: chat.startStream / appendStream / stopStream, when native streaming is not
    refused here and a start is in this minute's budget. Steps are `task_update` chunks.
  * `_UpdateWriter`: the text posted at once (chat.postMessage, limited per channel), then
    chat.update; chosen when the budget can promise the answer its final chat.update
    (`WriteBudget.admit`). Steps are a short context line above the text, which the final
    text replaces.
  * `_PostWriter`: neither has room (a burst after a burst): the "thinking" status stays, and
    the text is posted as it completes -- a short answer in one chat.postMessage, a long one in
    successive posts in the thread, each cut at a paragraph, line or word -- so no message
    needs an update the budget cannot pay for, and nothing is written twice.

A writer that Slack refuses (native streaming off in this channel, a stream refused mid-answer)
hands over to the next one, which goes on from what Slack shows: nothing lost, nothing repeated.
Always:
  * the first visible text goes out with the first meaningful chunk (a whole word or a line),
    with no hold; later writes wait for the answer's turn in the budget, and everything pending
    goes out in one write; intermediate writes thin out under pressure, a finish never waits
    behind them (the budget's reserve and promised finals);
  * answers longer than one message continue in follow-up messages, nothing is cut;
  * a native stream is closed before Slack's ~5-minute limit and the answer goes on in a new
    message; a stream Slack ended anyway is completed with chat.update (stream_lifetime.py);
  * if Slack says the message is no longer ours to write (stopped with the stop shortcut on
    another instance, or deleted), `ReplyGone` tells the caller to stop the model;
  * the last write of a finished answer (state done) adds `final_blocks` (the feedback buttons,
    answer_blocks.py): with chat.stopStream natively, or with the text as a markdown block,
    since markdown_text can't be combined with blocks; natively it also carries the agent
    session's status (`finish(session_status=)`, chat.stopStream `session_status`).

Why not slack_sdk's `chat_stream` helper (WebClient.chat_stream -> ChatStream): it buffers by
size (`buffer_size`) and calls appendStream itself whenever the buffer fills, while here every
call must wait for the workspace's budget and its timing comes from the number of live answers;
it also has no way to hand a refused or expired stream over to chat.update / chat.postMessage
within the same answer, or to close a stream early and go on in a new message. The chunks it
sends are the same as ours (slack_sdk.models.messages.chunk: markdown_text, task_update).

Why one module of ~580 lines: SlackReply and its three writers (_NativeWriter, _UpdateWriter,
_PostWriter) share the reply's private state (text, parts, steps, budget lease) and hand over to
each other mid-answer; split apart, each would reach into the others' internals.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace

from slack_sdk.errors import SlackApiError

from teambot.core.jobs import Job
from teambot.core.steps import COMPLETE, ERROR, IN_PROGRESS, PENDING, Step
from teambot.slack.blocks import with_blocks
from teambot.slack.client import SlackOps, failure_name, slack_error
from teambot.slack.marks import CONTINUED, CURSOR, DONE, STREAMING, answer_metadata
from teambot.slack.stream_lifetime import DEFAULT_MAX_AGE_S, NOT_STREAMING, stopped_or_deleted, stream_cut
from teambot.slack.stream_refusals import StreamRefusals
from teambot.slack.text import FENCE_CLOSE, FENCE_OPEN, MESSAGE_LIMIT, inside_fence, next_cut

NATIVE_GONE = frozenset({"message_not_in_streaming_state", "stopped_by_user", "message_not_found"})
UPDATE_GONE = frozenset({"message_not_found", "cant_update_message"})
FIRST_CHUNK_CHARS = 40  # a first chunk this long is shown even without a word break
POST_HOLD_S = 0.5  # post mode: a short answer done within this is one post
POST_EVERY_S = 2.0  # post mode: least time between two posts of one answer, doubling after each
POST_EVERY_MAX_S = 16.0
# Update mode: a final chat.update that would wait longer than this for a shared 429 pause is not
# made to wait; the rest of the answer is posted instead (chat.postMessage is limited per channel).
FINAL_PAUSE_MAX_S = 1.0
TASK_DISPLAY_MODE = "timeline"  # chat.startStream task_display_mode: each step as its own card
_WORD_DONE = re.compile(r"\S\s")


def _with_note(body: str, note: str) -> str:
    """A note under the text, or alone without its leading blank lines when there is no text."""
    return body + note if body.strip() else note.lstrip()


def _meaningful(text: str) -> bool:
    """A first chunk worth showing: a whole word (or line), or a long enough run."""
    return bool(text.strip()) and (_WORD_DONE.search(text) is not None or len(text) >= FIRST_CHUNK_CHARS)


class ReplyGone(Exception):
    """The message was stopped or deleted in Slack: stop generating, write nothing more."""


def metadata(job: Job, state: str) -> dict:
    return answer_metadata(job.message_ts, state, job.kind)


def task_chunk(step: Step) -> dict:
    """A thinking step as a chat.*Stream `task_update` chunk (slack_sdk TaskUpdateChunk fields;
    sources as url source elements {type: url, url, text}, docs.slack.dev chat.appendStream)."""
    chunk = {"type": "task_update", "id": step.id, "title": step.title, "status": step.status}
    if step.details:
        chunk["details"] = step.details
    if step.output:
        chunk["output"] = step.output
    if step.sources:
        chunk["sources"] = [{"type": "url", "url": s.url, "text": s.title or s.url} for s in step.sources]
    return chunk


def context_line(steps: list[Step]) -> str:
    """Update mode: the steps as one italic line above the text (the final text replaces it)."""
    marks = {COMPLETE: "✓", ERROR: "⚠"}
    parts = [f"{marks.get(s.status, '…')} {s.title}" + (f": {s.details}" if s.details else "") for s in steps]
    return f"_{' · '.join(parts)}_\n\n" if parts else ""


class SlackReply:
    def __init__(
        self,
        slack: SlackOps,
        job: Job,
        *,
        interval_s: float = 1.0,
        native: bool = True,
        refusals: StreamRefusals | None = None,
        on_message: Callable[[str], None] = lambda ts: None,
        limit: int = MESSAGE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        final_blocks: list[dict] | None = None,
        stream_max_age_s: float = DEFAULT_MAX_AGE_S,
    ):
        self._slack = slack
        self._job = job
        self._interval_s = interval_s
        self._on_message = on_message
        self._limit = limit
        self._clock = clock
        self._final_blocks = final_blocks or []  # added to the last message of a finished answer
        self._refusals = refusals or StreamRefusals()
        self._native_ok = native and not self._refusals.refused(job.channel)
        self.text = ""  # everything generated so far
        self.steps: dict[str, Step] = {}  # thinking steps by id, in the order they started
        self.session_status_sent = False  # finish() carried an agent session status (chat.stopStream)
        self.message_ts: list[str] = []
        self._ts: str | None = None  # the message being written
        self._closed_part: tuple[str, str] | None = None  # (ts, text) of the message closed "continued" last
        self._part_start = 0  # where in self.text the current message begins
        self._prefix = ""  # a reopened code fence carried into the current message
        self._shown = 0  # how much of self.text Slack has
        self._dirty: set[str] = set()  # step ids Slack has not been shown yet
        self._last_write = 0.0
        self._max_age_s = stream_max_age_s
        self._session_status: str | None = None
        self._budget = slack.budget
        self._lease = self._budget.join(job.team)
        self._writer: _Writer | None = None  # chosen at the first visible text
        self._lease.uses("chat.startStream" if self._native_ok else "chat.postMessage")

    @property
    def mode(self) -> str:
        """ "native", "update" or "post" (before the first text: what it would try first)."""
        if self._writer is None:
            return "native" if self._native_ok else "update"
        return self._writer.mode

    # -- public --------------------------------------------------------------------------
    def begin(self) -> None:
        """Nothing to show yet: the first meaningful chunk (or step) is the first write, at once.
        The assistant status ("is thinking…", assistant_thread.py) covers the wait."""

    def add(self, delta: str) -> None:
        self.text += delta
        if self._writer is None:
            if _meaningful(self.text):
                self._write()
        elif self._writer.due(self._clock()):
            self._write()

    def step(self, step: Step) -> None:
        """Show a thinking step (steps.py); the same id again updates it."""
        self.steps[step.id] = step
        self._dirty.add(step.id)
        if self._writer is None or self._writer.due(self._clock()):
            self._write()

    def settle_steps(self, status: str, output: str = "") -> None:
        """Before the finish: every step still pending or in progress takes `status` (and `output`
        where it has none), so a finished answer's card never shows a step still running; the
        final write shows them."""
        for step in list(self.steps.values()):
            if step.status in (PENDING, IN_PROGRESS):
                self.steps[step.id] = replace(step, status=status, output=step.output or output)
                self._dirty.add(step.id)

    def finish(self, note: str = "", state: str = DONE, *, session_status: str | None = None) -> None:
        """Write what is left, plus an optional note (stopped / error), and close the message.
        `session_status` (agent sessions: "active", "closed"): carried by chat.stopStream where the
        answer ends natively, and then `session_status_sent` is True; otherwise the caller sets it."""
        self._session_status = session_status
        self._write(final=True, note=note, state=state)

    def release(self) -> None:
        """The answer is over (whatever happened): it no longer shares the budget."""
        if self._writer is not None:
            self._writer.end()
        self._lease.end()

    # -- choosing the writer ---------------------------------------------------------------
    def _choose(self, *, native: bool) -> "_Writer":
        team = self._job.team
        if native and self._native_ok and self._budget.try_take(team, "chat.startStream", periodic=False):
            return _NativeWriter(self, prepaid=True)
        if self._budget.admit(team, "chat.update"):
            return _UpdateWriter(self)
        return _PostWriter(self)

    def _switch(self, writer: "_Writer") -> None:
        if self._writer is not None and self._writer is not writer:
            self._writer.end()
        self._writer = writer
        self._lease.uses(writer.method())

    # -- writing -------------------------------------------------------------------------
    def _part_text(self, upto: int | None = None) -> str:
        return self._prefix + self.text[self._part_start : upto]

    def _write(self, *, final: bool = False, note: str = "", state: str = DONE) -> None:
        if self._writer is None:
            self._switch(self._choose(native=True))
            if not final and not self._writer.due(self._clock()):
                return  # post mode holds its first part a moment: a short answer is one post
        for _ in range(4):  # a writer Slack refuses hands over to the next: native, update, post
            self._roll_over_full_messages()
            nxt = self._writer.close(len(self.text), note, state) if final else self._writer.write()
            if nxt is None:
                break
            self._switch(nxt)
        if final:
            self._shown = len(self.text)
        self._last_write = self._clock()

    def _roll_over_full_messages(self) -> None:
        while len(self._part_text()) > self._limit:
            offset, reopen = next_cut(self.text[self._part_start :], self._prefix, self._limit)
            cut = self._part_start + offset
            if self._writer.keeps_shown() and cut < self._shown:
                # A stream can't take back what it showed: cut after it, or it would appear twice.
                cut, reopen = self._shown, self._reopen(self._shown)
            self._continue_at(cut, reopen)

    def _continue_at(self, cut: int, reopen: str) -> None:
        """Close the current message after text[:cut] (state "continued"); the rest goes on in a
        new message, which reopens a code fence cut in two."""
        note = FENCE_CLOSE if reopen else ""
        closed_text = _with_note(self._part_text(cut), note)
        self._close(cut, note, CONTINUED)
        if self._ts is not None:
            self._closed_part = (self._ts, closed_text)
        self._part_start, self._shown, self._ts, self._prefix = cut, cut, None, reopen

    def _close(self, upto: int, note: str, state: str) -> None:
        for _ in range(4):
            nxt = self._writer.close(upto, note, state)
            if nxt is None:
                break
            self._switch(nxt)
        self._shown = upto

    def _stream_cut(self) -> tuple[int, str]:
        cut = stream_cut(self.text, self._shown)
        return cut, self._reopen(cut)

    def _reopen(self, cut: int) -> str:
        """What a message that goes on after text[:cut] starts with: a code fence cut in two is reopened."""
        return FENCE_OPEN if inside_fence(self._part_text(cut)) else ""

    def _final_extra(self, state: str) -> tuple[dict, list[dict]]:
        blocks = self._final_blocks if state == DONE else []
        return ({"blocks": blocks} if blocks else {}), blocks

    # -- Slack calls shared by the writers -----------------------------------------------------
    def _update(self, text: str, meta: dict | None = None, blocks: list[dict] | None = None, *, ts: str | None = None) -> None:
        """Rewrite the current message (or the message `ts`); post it when there is none yet."""
        ts = ts or self._ts
        if ts is None:
            self._post(text, meta or metadata(self._job, STREAMING), blocks)
            return
        extra = {"metadata": meta} if meta else {}
        try:
            self._slack.call(
                "chat_update",
                team=self._job.team,
                channel=self._job.channel,
                ts=ts,
                **with_blocks(text, blocks or []),
                **extra,
            )
        except SlackApiError as exc:
            if slack_error(exc) in UPDATE_GONE:
                raise ReplyGone() from None
            raise

    def _post(self, text: str, meta: dict, blocks: list[dict] | None = None) -> None:
        response = self._slack.call(
            "chat_postMessage",
            team=self._job.team,
            channel=self._job.channel,
            thread_ts=self._job.reply_thread_ts,
            metadata=meta,
            **with_blocks(text, blocks or []),
        )
        self._new_message(response["ts"])

    def _new_message(self, ts: str) -> None:
        self._ts = ts
        if self._writer is not None:
            self._lease.uses(self._writer.method())
        self.message_ts.append(ts)
        self._on_message(ts)


class _Writer:
    """How an answer reaches Slack. `write` / `close` return None when done, or the writer that
    takes over (the call is then redone with it)."""

    mode = ""

    def __init__(self, reply: SlackReply):
        self.r = reply
        self._next_check = 0.0  # before this, due() does not consult the budget (CPU per token)

    def method(self) -> str:
        raise NotImplementedError

    def keeps_shown(self) -> bool:
        """Whether the current message can't take back text it already shows (a live stream)."""
        return False

    def due(self, now: float) -> bool:
        """The first text of a message goes out at once (if its method has room); later text
        waits for the answer's interval, which grows with the answers sharing the method."""
        r = self.r
        if now < self._next_check:
            return False
        team, method = r._job.team, self.method()
        first = r._ts is None
        if not first:
            due_at = r._last_write + r._budget.interval(team, method, r._interval_s)
            if now < due_at:
                self._next_check = due_at
                return False
        if not r._budget.ready(team, method, r._job.channel, periodic=not first):
            self._next_check = now + min(0.25, r._interval_s)
            return False
        return True

    def write(self) -> "_Writer | None":
        raise NotImplementedError

    def close(self, upto: int, note: str, state: str) -> "_Writer | None":
        raise NotImplementedError

    def end(self) -> None:
        """The answer no longer uses this writer: give back what it holds of the budget."""


class _NativeWriter(_Writer):
    mode = "native"
    OK, EXPIRED = "ok", "expired"

    def __init__(self, reply: SlackReply, *, prepaid: bool = False):
        super().__init__(reply)
        self._prepaid = prepaid  # a chat.startStream slot already taken (SlackReply._choose)
        self._started = 0.0  # when the current stream began
        self._expired = False  # Slack ended the current stream: only chat.update reaches it
        self._closed_unchecked = False  # SlackReply._closed_part: stopped there meanwhile? not looked yet

    def method(self) -> str:
        return "chat.appendStream" if self.r._ts else "chat.startStream"

    def keeps_shown(self) -> bool:
        return self.r._ts is not None and not self._expired

    def due(self, now: float) -> bool:
        return self.r._ts is None or super().due(now)  # a start decides by itself (_start)

    def _chunks(self, text: str) -> dict:
        """The call's content: plain markdown_text, or chunks when steps changed."""
        r = self.r
        if not r._dirty:
            return {"markdown_text": text}
        chunks = [task_chunk(r.steps[i]) for i in r.steps if i in r._dirty]
        if text:
            chunks.append({"type": "markdown_text", "text": text})
        return {"chunks": chunks}

    def write(self) -> _Writer | None:
        r = self.r
        if r._ts is not None and (self._expired or r._clock() - self._started >= r._max_age_s):
            r._continue_at(*r._stream_cut())  # before Slack ends the stream (~5 min)
        if r._ts is None:
            if not r._part_text() and not r._dirty:
                return None  # everything went into the closed message: the next stream starts with text
            nxt = self._start(r._part_text())
            if nxt is not None:
                return nxt
        elif len(r.text) > r._shown or r._dirty:
            outcome = self._call("chat_appendStream", **self._chunks(r.text[r._shown :]))
            if outcome is self.EXPIRED:
                self._expired = True
                return self.write()  # completes the message with chat.update, goes on in a new one
            if isinstance(outcome, _Writer):
                return outcome
            r._dirty.clear()
        r._shown = len(r.text)
        return None

    def close(self, upto: int, note: str, state: str) -> _Writer | None:
        r = self.r
        done = metadata(r._job, state)
        extra, blocks = r._final_extra(state)
        ending = {"session_status": r._session_status} if r._session_status and state != CONTINUED else {}
        if r._ts is None:
            if upto == r._part_start and not note and not r._dirty:
                if state != CONTINUED and r._closed_part is not None:
                    # Nothing left for a new part: the message closed "continued" last is the
                    # answer's last, and carries its final mark (else takeover and the feedback
                    # buttons would wait for a part that never comes).
                    self._check_closed_part()
                    ts, text = r._closed_part
                    r._update(text or "…", done, blocks, ts=ts)
                return None
            nxt = self._start(_with_note(r._part_text(upto), note))
            if nxt is not None:
                return nxt
            outcome = self._call("chat_stopStream", metadata=done, **extra, **ending)
            if isinstance(outcome, _Writer):
                return outcome
            self._sent_session_status(ending, outcome)
        else:
            if not self._expired:
                team, rest = r._job.team, r.text[r._shown : upto]
                if (
                    rest
                    and not r._budget.ready(team, "chat.stopStream", periodic=False)
                    and r._budget.try_take(team, "chat.appendStream", periodic=False)
                ):
                    # Stops are scarce: show the whole text now; the stop (final metadata) waits.
                    outcome = self._call("chat_appendStream", prepaid=True, **self._chunks(rest))
                    if isinstance(outcome, _Writer):
                        return outcome
                    if outcome is self.EXPIRED:
                        self._expired = True
                    else:
                        r._shown, rest = upto, ""
                        r._dirty.clear()
                if not self._expired:
                    content = self._chunks(rest + note) if (rest + note) or r._dirty else {}
                    outcome = self._call("chat_stopStream", metadata=done, **content, **extra, **ending)
                    if isinstance(outcome, _Writer):
                        return outcome
                    if outcome is self.EXPIRED:
                        self._expired = True
                    else:
                        self._sent_session_status(ending, outcome)
            if self._expired:  # Slack ended the stream: chat.update writes what it missed
                r._update(_with_note(r._part_text(upto), note) or "…", done, blocks)
        if state == CONTINUED:  # a renewal, a full message or an expiry: look again before going on
            self._closed_unchecked = True
        r._dirty.clear()
        r._shown = upto
        return None

    def _sent_session_status(self, ending: dict, outcome) -> None:
        if ending and outcome is self.OK:
            self.r.session_status_sent = True

    def _start(self, text: str) -> _Writer | None:
        """A new stream with `text` (and the steps so far); the writer to use instead if there is
        no start in this minute's budget or Slack refuses streaming."""
        r, job = self.r, self.r._job
        self._check_closed_part()
        if not self._prepaid and not r._budget.try_take(job.team, "chat.startStream", periodic=False):
            return r._choose(native=False)  # no native start left in this minute's budget
        self._prepaid = False
        if r._dirty:  # a new stream shows every step so far, in the order they started
            r._dirty = set(r.steps)
        content = self._chunks(text)
        try:
            response = r._slack.call(
                "chat_startStream",
                team=job.team,
                prepaid=True,
                channel=job.channel,
                thread_ts=job.reply_thread_ts,
                recipient_team_id=job.recipient_team,
                recipient_user_id=job.user,
                task_display_mode=TASK_DISPLAY_MODE,
                **content,
            )
        except SlackApiError as exc:
            if slack_error(exc) != "ratelimited":  # a 429 is the budget's business, not a refusal
                r._refusals.remember(job.channel, slack_error(exc))
            return r._choose(native=False)
        self._started, self._expired = r._clock(), False
        r._dirty.clear()
        r._new_message(response["ts"])
        return None

    def _check_closed_part(self) -> None:
        """Another instance may have stopped the answer on the part we closed last: Slack's native
        stop, its mark landing after our read-back took the stop for an expiry, or a stop on a
        part we had just closed (handlers/stop_generation.py marks it then). Look once before
        going on, and stop (ReplyGone) if so. A failed look is logged and the answer goes on."""
        r, job = self.r, self.r._job
        if not self._closed_unchecked or r._closed_part is None:
            return
        self._closed_unchecked = False
        try:
            stopped = stopped_or_deleted(r._slack, job.channel, job.reply_thread_ts, r._closed_part[0], team=job.team)
        except (SlackApiError, OSError, TimeoutError) as exc:
            from teambot.core import logs

            logs.exception(
                "slack_read_failed",
                exc,
                kind=job.kind,
                slack_error=failure_name(exc),
                channel=job.channel,
                degraded="stop_not_checked",
            )
            return
        if stopped:
            raise ReplyGone()

    def _call(self, method: str, **kwargs):
        """OK, EXPIRED (Slack ended the stream on its own), or the writer that takes over after
        Slack refused the stream mid-answer; ReplyGone when the stream was stopped or deleted."""
        r, job = self.r, self.r._job
        try:
            r._slack.call(method, team=job.team, channel=job.channel, ts=r._ts, **kwargs)
            return self.OK
        except SlackApiError as exc:
            if slack_error(exc) == NOT_STREAMING and not stopped_or_deleted(
                r._slack, job.channel, job.reply_thread_ts, r._ts, team=job.team
            ):
                return self.EXPIRED
            if slack_error(exc) in NATIVE_GONE:
                raise ReplyGone() from None
            # Refused mid-answer: close what was shown, continue another way, nothing lost.
            try:
                r._slack.call("chat_stopStream", team=job.team, channel=job.channel, ts=r._ts)
            except SlackApiError:
                pass
            r._refusals.remember(job.channel, slack_error(exc))
            r._ts, r._part_start, r._prefix = None, r._shown, ""
            return r._choose(native=False)


class _UpdateWriter(_Writer):
    """Holds a promised final chat.update (WriteBudget.admit) until the answer's last write."""

    mode = "update"

    def __init__(self, reply: SlackReply):
        super().__init__(reply)
        self._owes = True

    def method(self) -> str:
        return "chat.update" if self.r._ts else "chat.postMessage"

    def write(self) -> _Writer | None:
        r = self.r
        steps = context_line([r.steps[i] for i in r.steps]) if r.steps else ""
        r._update(steps + r._part_text() + CURSOR)
        r._shown = len(r.text)
        r._dirty.clear()
        return None

    def close(self, upto: int, note: str, state: str) -> _Writer | None:
        r = self.r
        extra, blocks = r._final_extra(state)
        if state != CONTINUED and self._finish_by_post(upto, note, state, blocks):
            return None
        r._update(_with_note(r._part_text(upto), note) or "…", metadata(r._job, state), blocks)
        r._dirty.clear()
        if state != CONTINUED:
            self.end()
        return None

    def _finish_by_post(self, upto: int, note: str, state: str, blocks: list[dict]) -> bool:
        """Final text first (issue 21): when chat.update is paused by a 429 (Retry-After is shared
        by every answer and can be a minute), the text not shown yet is posted as the answer's last
        message, with the final mark, and the partial message is closed ("continued") afterwards,
        when the budget allows. Until then it still says "streaming", which takeover ignores: the
        thread holds a finished message of this answer. Nothing is shown twice: the cut is where
        the partial message's text ends."""
        r = self.r
        cut = r._shown
        if r._ts is None or cut >= upto or r._budget.paused_for(r._job.team, "chat.update") <= FINAL_PAUSE_MAX_S:
            return False
        partial_ts, reopen = r._ts, r._reopen(cut)
        partial = _with_note(r._part_text(cut), FENCE_CLOSE if reopen else "") or "…"
        r._part_start, r._prefix = cut, reopen
        r._post(_with_note(r._part_text(upto), note) or "…", metadata(r._job, state), blocks)  # the answer's message now
        r._dirty.clear()
        try:
            r._update(partial, metadata(r._job, CONTINUED), ts=partial_ts)
        except (SlackApiError, ReplyGone):
            pass  # the answer is complete in the thread; the partial keeps its cursor
        finally:
            self.end()
        return True

    def end(self) -> None:
        if self._owes:
            self._owes = False
            self.r._budget.settle(self.r._job.team, "chat.update")


class _PostWriter(_Writer):
    """No message is ever updated: each part is posted once it is complete."""

    mode = "post"

    def __init__(self, reply: SlackReply):
        super().__init__(reply)
        self._posts = 0
        self._next_at = reply._clock() + POST_HOLD_S

    def method(self) -> str:
        return "chat.postMessage"

    def due(self, now: float) -> bool:
        if now < self._next_at:
            return False
        r = self.r
        if not r._budget.ready(r._job.team, "chat.postMessage", r._job.channel, periodic=False):
            self._next_at = now + 0.25
            return False
        return self._cut() > r._part_start

    def _cut(self) -> int:
        """The end of the complete part of the text not posted yet: after its last paragraph,
        else line, else word; the last word always stays for the next post (or the finish)."""
        r = self.r
        text, start = r.text, r._part_start
        end = len(text.rstrip())
        last_space = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
        if last_space < 0:
            return start
        for sep in ("\n\n", "\n"):
            at = text.rfind(sep, start, end)
            if at >= 0:
                return at + len(sep)
        return last_space + 1

    def write(self) -> _Writer | None:
        r = self.r
        cut = self._cut()
        if cut <= r._part_start:
            return None
        r._continue_at(cut, r._reopen(cut))
        self._posts += 1
        self._next_at = r._clock() + min(POST_EVERY_MAX_S, POST_EVERY_S * 2 ** (self._posts - 1))
        return None

    def close(self, upto: int, note: str, state: str) -> _Writer | None:
        r = self.r
        extra, blocks = r._final_extra(state)
        body = _with_note(r._part_text(upto), note)
        if not body.strip() and state == CONTINUED:
            return None
        r._ts = None  # every part is a new message
        r._post(body or "…", metadata(r._job, state), blocks)
        r._dirty.clear()
        return None
