"""A burst after a burst (issue 21): two waves of answers in ONE workspace, the second right after
the first, against the Slack fake enforcing Slack's per-workspace tiers, on a fresh function
process (a budget that has learned nothing yet). Per answer, from the fakes' own clocks (same
process, same monotonic clock): first model token -> first visible text, last model token ->
final text (the answer's last accepted write), exactness, and the 429s Slack answered.

    python -m bench.bursts [--answers 50] [--tokens 200] [--delay 0.02] [--instances 1]

`--instances 10`: ten function processes against the one Slack fake (ten Cloud Run instances of
one workspace): each wave is spread over them; with FIRESTORE_EMULATOR_HOST set they share the
per-workspace pause through Firestore (USAGE_STORE=firestore), else each learns alone.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

from bench.common import Fakes, Plan, post, signed_dm, summary

WRITES = ("chat.startStream", "chat.appendStream", "chat.stopStream", "chat.postMessage", "chat.update")


def _text_of(slack, channel: str, ts: str) -> str | None:
    msgs = slack.bot_messages(channel, ts)
    if not msgs or msgs[-1].get("streaming"):
        return None
    state = ((msgs[-1].get("metadata") or {}).get("event_payload") or {}).get("state")
    return None if state in (None, "streaming", "continued") else "".join(m["text"] for m in msgs)


def _wave(fakes, bots, tag: str, n: int, tokens: int, delay_s: float, timeout_s: float) -> dict:
    slack, model = fakes.slack, fakes.model
    questions = {}
    for i in range(n):
        channel = f"D{tag}{i}"
        ts = slack.add_message(channel, f"{tag}:{i}")
        questions[channel] = (ts, "".join(f" {tag}{i}w{j}" for j in range(tokens)))
    calls_before, requests_before = len(slack.calls), len(model.requests)
    threads = []
    for k, (channel, (ts, _)) in enumerate(questions.items()):
        body, headers = signed_dm(f"{tag}:{channel[len(tag) + 1 :]}", ts, channel=channel)
        bot = bots[k % len(bots)]
        threads.append(threading.Thread(target=lambda b=bot, body=body, h=headers: post(b.port, body, h)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(_text_of(slack, c, ts) is not None for c, (ts, _) in questions.items()):
        time.sleep(0.05)
    calls = [c for c in slack.calls[calls_before:] if c["method"] in WRITES and c["status"] == 200 and c.get("ok")]
    requests = {r.body["messages"][-1]["content"]: r for r in model.requests[requests_before:]}
    first, final, exact, modes = [], [], 0, {}
    for channel, (ts, want) in questions.items():
        exact += _text_of(slack, channel, ts) == want
        req = requests.get(f"{tag}:{channel[len(tag) + 1 :]}")
        mine = [c for c in calls if c["channel"] == channel]
        shown = [c for c in mine if c["text_len"]]
        if req is None or not shown:
            continue
        first.append(shown[0]["time"] - req.first_token_at)
        final.append(mine[-1]["time"] - req.ended_at)
        kind = (
            "native"
            if any(c["method"] == "chat.startStream" for c in mine)
            else ("update" if any(c["method"] == "chat.update" for c in mine) else "post")
        )
        modes[kind] = modes.get(kind, 0) + 1
    return {
        "answers": n,
        "exact": exact,
        "first_visible_s": summary(first) if first else None,
        "final_after_last_token_s": summary(final) if final else None,
        "later_than_5s": sum(1 for s in final if s > 5.0),
        "modes": modes,
    }


def run(answers: int = 50, tokens: int = 200, delay_s: float = 0.02, instances: int = 1, timeout_s: float = 180) -> dict:
    fakes = Fakes()  # the Slack fake enforces Slack's tiers (its default)
    fakes.model.responder = lambda body: Plan(
        tokens=[f" {body['messages'][-1]['content'].replace(':', '')}w{j}" for j in range(tokens)], delay_s=delay_s
    )
    shared = {}
    if instances > 1 and os.environ.get("FIRESTORE_EMULATOR_HOST"):
        shared = {
            "USAGE_STORE": "firestore",
            "FIRESTORE_EMULATOR_HOST": os.environ["FIRESTORE_EMULATOR_HOST"],
            "GOOGLE_CLOUD_PROJECT": f"bursts-{int(time.time())}",
        }
    bots = [fakes.start_bot(**shared) for _ in range(instances)]
    try:
        started = time.monotonic()
        waves = [_wave(fakes, bots, tag, answers, tokens, delay_s, timeout_s) for tag in ("a", "b")]
        return {
            "answers_per_wave": answers,
            "tokens": tokens,
            "token_delay_s": delay_s,
            "instances": instances,
            "shared_pause": "firestore" if shared else "none" if instances > 1 else "one process",
            "waves": waves,
            "429s": sum(fakes.slack.rate_limited.values()),
            "429s_by_method": dict(fakes.slack.rate_limited),
            "seconds": time.monotonic() - started,
        }
    finally:
        for bot in bots:
            bot.stop()
        fakes.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--instances", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run(args.answers, args.tokens, args.delay, args.instances), indent=1))
