"""Step "Slack reply" of the worker: stream an answer into a Slack thread.

Native streaming (chat.startStream / appendStream / stopStream) is preferred; when the workspace
or channel refuses it, the reply falls back, within the same answer, to "placeholder +
chat.update". Either way:
  * the first text is shown as soon as the first token arrives; later writes wait for the
    answer's turn in the instance's WriteBudget (write_budget.py), and everything pending goes out
    in one write; scarce native starts mean update mode (a short answer then goes out whole in
    one chat.postMessage); scarce stops mean the rest is appended now and the stop waits;
  * answers longer than one message continue in follow-up messages, nothing is cut;
  * a native stream is closed before Slack's ~5-minute limit and the answer goes on in a new
    message; a stream Slack ended anyway is completed with chat.update (stream_lifetime.py);
  * if Slack says the message is no longer ours to write (stopped with the stop shortcut on
    another instance, or deleted), `ReplyGone` tells the caller to stop the model.
  * the last write of a finished answer (state done) adds `final_blocks` (the feedback buttons,
    answer_blocks.py): with chat.stopStream natively, or, in update mode, with the text as a
    markdown block, since markdown_text can't be combined with blocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from .answer_blocks import with_blocks
from .formatting import FENCE_CLOSE, FENCE_OPEN, MESSAGE_LIMIT, inside_fence, next_cut
from .jobs import Job
from .marks import CONTINUED, CURSOR, DONE, PLACEHOLDER, STREAMING, answer_metadata
from .slack_ops import SlackOps, slack_error
from .steps import Step
from .stream_lifetime import DEFAULT_MAX_AGE_S, NOT_STREAMING, StreamExpired, stopped_or_deleted, stream_cut
from .stream_refusals import StreamRefusals

NATIVE_GONE = frozenset({"message_not_in_streaming_state", "stopped_by_user", "message_not_found"})
UPDATE_GONE = frozenset({"message_not_found", "cant_update_message"})


def _with_note(body: str, note: str) -> str:
    """A note under the text, or alone without its leading blank lines when there is no text."""
    return body + note if body.strip() else note.lstrip()


class ReplyGone(Exception):
    """The message was stopped or deleted in Slack: stop generating, write nothing more."""


def metadata(job: Job, state: str) -> dict:
    return answer_metadata(job.message_ts, state, job.kind)


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
        self.mode = "native" if native and not self._refusals.refused(job.channel) else "update"
        self.text = ""  # everything generated so far
        self.steps: dict[str, Step] = {}  # thinking steps by id, in the order they started
        self.session_status_sent = False  # finish() carried an agent session status (chat.stopStream)
        self.message_ts: list[str] = []
        self._ts: str | None = None  # the message being written
        self._part_start = 0  # where in self.text the current message begins
        self._prefix = ""  # a reopened code fence carried into the current message
        self._shown = 0  # how much of self.text Slack has
        self._last_write = 0.0
        self._max_age_s = stream_max_age_s
        self._stream_started = 0.0  # when the current native stream began
        self._expired = False  # Slack ended the current native stream: only chat.update reaches it
        self._next_check = 0.0  # before this, add() does not consult the budget (CPU per token)
        self._hold_until = 0.0  # update mode after a refused native start: the first post waits
        self._budget = slack.budget
        self._lease = self._budget.join(job.team)
        self._lease.uses(self._stream_method())

    # -- public --------------------------------------------------------------------------
    def begin(self) -> None:
        """Update mode shows a placeholder at once; native mode starts with the first token."""
        if self.mode == "update":
            self._post(PLACEHOLDER, metadata(self._job, STREAMING))

    def add(self, delta: str) -> None:
        self.text += delta
        if self._due():
            self._write()

    def step(self, step: Step) -> None:
        """Show a thinking step (steps.py); the same id again updates it. Not rendered yet: the
        writer's task_update / context-line rendering is issue 19's."""
        self.steps[step.id] = step

    def finish(self, note: str = "", state: str = DONE, *, session_status: str | None = None) -> None:
        """Write what is left, plus an optional note (stopped / error), and close the message.
        `session_status` (agent sessions: "active", "closed"): carried by chat.stopStream where the
        answer ends natively, and then `session_status_sent` is True; otherwise the caller sets it."""
        self._write(final=True, note=note, state=state)

    def release(self) -> None:
        """The answer is over (whatever happened): it no longer shares the budget."""
        self._lease.end()

    # -- when to write ---------------------------------------------------------------------
    def _stream_method(self) -> str:
        if self.mode == "native":
            return "chat.appendStream" if self._ts else "chat.startStream"
        return "chat.update" if self._ts else "chat.postMessage"

    def _due(self) -> bool:
        """The first text of a message goes out at once (if its method has room); later text
        waits for the answer's interval, which grows with the answers sharing the method."""
        if self.mode == "native" and self._ts is None:
            return True  # _native_start decides between a native start and update mode
        now = self._clock()
        if now < self._next_check or (self._ts is None and now < self._hold_until):
            return False
        team, method = self._job.team, self._stream_method()
        first = self._shown == self._part_start
        if not first:
            due_at = self._last_write + self._budget.interval(team, method, self._interval_s)
            if now < due_at:
                self._next_check = due_at
                return False
        if not self._budget.ready(team, method, self._job.channel, periodic=not first):
            self._next_check = now + min(0.25, self._interval_s)
            return False
        return True

    # -- writing -------------------------------------------------------------------------
    def _part_text(self, upto: int | None = None) -> str:
        return self._prefix + self.text[self._part_start : upto]

    def _write(self, *, final: bool = False, note: str = "", state: str = DONE) -> None:
        try:
            self._roll_over_full_messages()
            if final:
                self._close(len(self.text), note, state)
            elif self.mode == "native":
                self._native_write()
            else:
                self._update(self._part_text() + CURSOR)
                self._shown = len(self.text)
        except _Fallback:  # native refused: the same write again, now in update mode
            self._write(final=final, note=note, state=state)
            return
        except _Held:  # no native start in the budget: update mode, the first post a little later
            return
        self._last_write = self._clock()

    def _roll_over_full_messages(self) -> None:
        while len(self._part_text()) > self._limit:
            offset, reopen = next_cut(self.text[self._part_start :], self._prefix, self._limit)
            cut = self._part_start + offset
            if self.mode == "native" and self._ts is not None and not self._expired and cut < self._shown:
                # A stream can't take back what it showed: cut after it, or it would appear twice.
                cut, reopen = self._shown, FENCE_OPEN if inside_fence(self._part_text(self._shown)) else ""
            self._continue_at(cut, reopen)

    def _continue_at(self, cut: int, reopen: str) -> None:
        """Close the current message after text[:cut] (state "continued"); the rest goes on in a
        new message, which reopens a code fence cut in two."""
        self._close(cut, FENCE_CLOSE if reopen else "", CONTINUED)
        self._part_start, self._shown, self._ts, self._prefix = cut, cut, None, reopen

    def _stream_cut(self) -> tuple[int, str]:
        cut = stream_cut(self.text, self._shown)
        return cut, FENCE_OPEN if inside_fence(self._part_text(cut)) else ""

    def _close(self, upto: int, note: str, state: str) -> None:
        """Finish the current message with the text up to `upto`, then `note`."""
        done = metadata(self._job, state)
        blocks = self._final_blocks if state == DONE else []
        extra = {"blocks": blocks} if blocks else {}
        if self.mode == "native":
            if self._ts is None:
                if upto == self._part_start and not note:
                    return
                self._native_start(_with_note(self._part_text(upto), note), final=True)
                self._native_call("chat_stopStream", metadata=done, **extra)
            else:
                if not self._expired:
                    team, rest = self._job.team, self.text[self._shown : upto]
                    if rest and not self._budget.ready(team, "chat.stopStream", periodic=False) and self._budget.try_take(
                            team, "chat.appendStream", periodic=False):
                        # Stops are scarce: show the whole text now; the stop (final metadata) waits.
                        try:
                            self._native_call("chat_appendStream", prepaid=True, markdown_text=rest)
                            self._shown, rest = upto, ""
                        except StreamExpired:
                            self._expired = True
                    if not self._expired:
                        try:
                            self._native_call("chat_stopStream", markdown_text=(rest + note) or None, metadata=done, **extra)
                        except StreamExpired:
                            self._expired = True
                if self._expired:  # Slack ended the stream: chat.update writes what it missed
                    self._update(_with_note(self._part_text(upto), note) or "…", done, blocks)
        else:
            self._update(_with_note(self._part_text(upto), note) or "…", done, blocks)
        self._shown = upto

    def _native_write(self) -> None:
        if self._ts is not None and (self._expired or self._clock() - self._stream_started >= self._max_age_s):
            self._continue_at(*self._stream_cut())  # before Slack ends the stream (~5 min)
        if self._ts is None:
            if not self._part_text():
                return  # everything went into the closed message: the next stream starts with text
            self._native_start(self._part_text())
        elif len(self.text) > self._shown:
            try:
                self._native_call("chat_appendStream", markdown_text=self.text[self._shown :])
            except StreamExpired:
                self._expired = True
                self._native_write()  # completes the message with chat.update, goes on in a new one
                return
        self._shown = len(self.text)

    def _native_start(self, text: str, final: bool = False) -> None:
        job = self._job
        if not self._budget.try_take(job.team, "chat.startStream", periodic=False):
            # No native start left in this minute's budget: update mode for this answer.
            self.mode = "update"
            self._lease.uses("chat.update")
            if final:
                raise _Fallback()  # the whole answer in one chat.postMessage
            self._hold_until = self._clock() + self._interval_s
            raise _Held()
        try:
            response = self._slack.call(
                "chat_startStream", team=job.team, prepaid=True, channel=job.channel, thread_ts=job.reply_thread_ts,
                recipient_team_id=job.recipient_team, recipient_user_id=job.user, markdown_text=text,
            )
        except SlackApiError as exc:
            if slack_error(exc) != "ratelimited":  # a 429 is the budget's business, not a refusal
                self._refusals.remember(job.channel, slack_error(exc))
            self.mode = "update"
            self._lease.uses("chat.update")
            raise _Fallback() from None
        self._stream_started, self._expired = self._clock(), False
        self._new_message(response["ts"])

    def _native_call(self, method: str, **kwargs) -> None:
        try:
            self._slack.call(method, team=self._job.team, channel=self._job.channel, ts=self._ts, **kwargs)
        except SlackApiError as exc:
            job = self._job
            if slack_error(exc) == NOT_STREAMING and not stopped_or_deleted(
                self._slack, job.channel, job.reply_thread_ts, self._ts
            ):
                raise StreamExpired() from None
            if slack_error(exc) in NATIVE_GONE:
                raise ReplyGone() from None
            # Refused mid-answer: close what was shown, continue in update mode, nothing lost.
            try:
                self._slack.call("chat_stopStream", team=self._job.team, channel=self._job.channel, ts=self._ts)
            except SlackApiError:
                pass
            self._refusals.remember(self._job.channel, slack_error(exc))
            self.mode, self._ts, self._part_start, self._prefix = "update", None, self._shown, ""
            self._lease.uses("chat.update")
            raise _Fallback() from None

    def _update(self, text: str, meta: dict | None = None, blocks: list[dict] | None = None) -> None:
        if self._ts is None:
            self._post(text, meta or metadata(self._job, STREAMING), blocks)
            return
        extra = {"metadata": meta} if meta else {}
        try:
            self._slack.call("chat_update", team=self._job.team, channel=self._job.channel, ts=self._ts,
                             **with_blocks(text, blocks or []), **extra)
        except SlackApiError as exc:
            if slack_error(exc) in UPDATE_GONE:
                raise ReplyGone() from None
            raise

    def _post(self, text: str, meta: dict, blocks: list[dict] | None = None) -> None:
        response = self._slack.call(
            "chat_postMessage", team=self._job.team, channel=self._job.channel, thread_ts=self._job.reply_thread_ts,
            metadata=meta, **with_blocks(text, blocks or []),
        )
        self._new_message(response["ts"])

    def _new_message(self, ts: str) -> None:
        self._ts = ts
        self._lease.uses(self._stream_method())
        self.message_ts.append(ts)
        self._on_message(ts)


class _Fallback(Exception):
    """Internal: native streaming was refused; the write is redone in update mode."""


class _Held(Exception):
    """Internal: no native start in the budget; update mode, first post after a short hold."""
