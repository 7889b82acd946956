"""A stop against an answer's end, in this process (function/teambot/answer/generations.py and
slack/shortcut_targets.py): whichever comes first wins, so a stop pressed after the model has
finished (while the worker still writes the last message and wraps up) is told "already
complete", and an answer stopped first is never counted as complete."""

import threading
from types import SimpleNamespace

from teambot.answer.generations import Generation, Generations
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


def test_cancel_here_tells_a_finished_local_answer_from_a_running_one_and_from_none():
    ctx = SimpleNamespace(generations=Generations())
    running, finished = Generation(), Generation()
    ctx.generations.register("1.1", running)
    ctx.generations.register("2.2", finished)
    finished.end()
    assert cancel_here(ctx, "1.1") == "local" and running.cancelled.is_set()
    assert cancel_here(ctx, "2.2") == "already_done" and not finished.cancelled.is_set()
    assert cancel_here(ctx, "3.3") is None  # not written here: the stop goes through Slack


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
