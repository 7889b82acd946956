"""A stop against an answer's end, in this process (function/teambot/answer/generations.py and
slack/shortcut_targets.py): whichever comes first wins, so a stop pressed after the model has
finished (while the worker still writes the last message and wraps up) is told "already
complete", and an answer stopped first is never counted as complete."""

import threading
from types import SimpleNamespace

from teambot.answer.generations import Generation, Generations
from teambot.core.jobs import Job
from teambot.slack.shortcut_targets import cancel_here


class Stream:
    def __init__(self):
        self.closed = threading.Event()

    def close(self):
        self.closed.set()


def test_a_stop_before_the_end_cancels_and_closes_the_model_stream():
    generation, stream = Generation(), Stream()
    generation.attach(stream)
    assert generation.cancel() is True
    assert generation.cancelled.is_set() and stream.closed.is_set()
    assert generation.end() is False  # the pipeline then writes the stop, not a finished answer


def test_a_stop_after_the_end_leaves_the_answer_alone():
    generation, stream = Generation(), Stream()
    generation.attach(stream)
    assert generation.end() is True
    assert generation.cancel() is False
    assert not generation.cancelled.is_set() and not stream.closed.is_set()


def stop_on(ts: str, thread_ts: str = "1.0") -> Job:
    return Job(kind="stop_generation", team="T1", channel="D1", user="U1", message_ts=ts, thread_ts=thread_ts)


def test_cancel_here_tells_a_finished_local_answer_from_a_running_one_and_from_none():
    ctx = SimpleNamespace(generations=Generations())
    running, finished = Generation("1.0"), Generation("1.0")
    ctx.generations.register("1.1", running)
    ctx.generations.register("2.2", finished)
    finished.end()
    assert cancel_here(ctx, stop_on("1.1")) == "local" and running.cancelled.is_set()
    assert cancel_here(ctx, stop_on("2.2")) == "already_done" and not finished.cancelled.is_set()
    assert cancel_here(ctx, stop_on("3.3")) is None  # not written here: the stop goes through Slack


def test_a_stop_on_a_first_message_whose_ts_the_writer_does_not_know_yet_is_local():
    # Slack shows the message once chat.startStream lands; the writer learns its ts after.
    ctx = SimpleNamespace(generations=Generations())
    starting = Generation("5.0")
    ctx.generations.register_thread("D1", "1.0", starting)
    assert cancel_here(ctx, stop_on("4.0")) is None  # earlier than the question: an older answer
    assert cancel_here(ctx, stop_on("6.0", thread_ts="9.0")) is None  # another thread
    assert not starting.cancelled.is_set()
    assert cancel_here(ctx, stop_on("6.0")) == "local" and starting.cancelled.is_set()


def test_two_answers_starting_in_one_thread_leave_the_stop_to_slack():
    ctx = SimpleNamespace(generations=Generations())
    first, second = Generation("5.0"), Generation("5.5")
    for generation in (first, second):
        ctx.generations.register_thread("D1", "1.0", generation)
    assert cancel_here(ctx, stop_on("6.0")) is None
    ctx.generations.register("5.8", first)  # the first one's message is known: the other is the one
    assert cancel_here(ctx, stop_on("6.0")) == "local" and second.cancelled.is_set()
    assert not first.cancelled.is_set()


def test_end_and_cancel_racing_agree_on_one_winner():
    for _ in range(200):
        generation = Generation()
        results = {}
        barrier = threading.Barrier(2)

        def run(name, call, barrier=barrier, results=results):
            barrier.wait()
            results[name] = call()

        threads = [
            threading.Thread(target=run, args=("end", generation.end)),
            threading.Thread(target=run, args=("cancel", generation.cancel)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        assert results["end"] != results["cancel"]  # exactly one of them took effect
        assert generation.cancelled.is_set() == results["cancel"]
