"""Issue 20: one prompt answers every approval request of a response; a prompt nobody answers expires on its own (a scheduled job: a Cloud
Tasks task with scheduleTime, or a timer in-process), and exactly one of approve / deny / expire
acts on a request, also when two clicks land on two instances (claims.py, on the real Firestore
emulator). End to end over loopback: the real function processes, Slack-signed clicks."""

import base64
import json
import threading
import time
import uuid

import pytest

from teambot.ack.handoff import CloudTasksHandoff, schedule_time
from teambot.answer.claims import FirestoreClaims, MemoryClaims, claim_doc_id
from teambot.answer.mcp_approvals import ttl_words
from teambot.core.jobs import Job
from tests.e2e.test_cloud_tasks_e2e import QUEUE, oidc, start_tasks_bot, tasks  # noqa: F401 (fixtures)
from tests.e2e.test_tools_mcp import SERVERS, approval_prompts, ask_for_approval, click
from tests.fakes.cloud_tasks import _rfc3339_utc
from tests.fakes.openai_api import Plan, mcp_approval_request, mcp_call, mcp_list_tools, words
from tests.harness import dm, settle, wait_for


def expired_notices(slack, ts):
    return [m for m in slack.bot_messages("D1", ts) if "nobody approved it" in m["text"]]


def has_buttons(message) -> bool:
    return any(b.get("type") == "actions" for b in message.get("blocks") or [])


def test_an_unanswered_request_expires_politely_and_a_late_click_changes_nothing(start_bot, slack, model):
    bot, ts, prompt = ask_for_approval(start_bot, slack, model, MCP_APPROVAL_TTL_SECONDS="1")
    assert "expires in 1 second." in json.dumps(prompt["blocks"])
    assert has_buttons(slack.messages[prompt["ts"]])
    late = click(prompt, "mcp_approve")  # the buttons as a client that has not refreshed still shows them
    notice = wait_for(lambda: expired_notices(slack, ts), timeout=10)
    assert "within 1 second" in notice[0]["text"]
    assert "expired" in slack.messages[prompt["ts"]]["text"] and not has_buttons(slack.messages[prompt["ts"]])
    # A click after the expiry (Slack still delivers one from a client that had not refreshed)
    assert bot.post_form(late).status == 200
    wait_for(lambda: any(r.get("reason") == "already answered" for r in bot.log_records()))
    settle()
    assert len(model.requests) == 1 and len(expired_notices(slack, ts)) == 1
    assert [r["outcome"] for r in bot.log_records() if r.get("message") == "mcp_approval"] == ["expired"]


def test_an_answered_request_does_not_expire_later(start_bot, slack, model):
    bot, ts, prompt = ask_for_approval(start_bot, slack, model, MCP_APPROVAL_TTL_SECONDS="1.5")
    assert bot.post_form(click(prompt, "mcp_deny")).status == 200
    wait_for(lambda: any("didn't call" in m["text"] for m in slack.bot_messages("D1", ts)))
    # The expiry job runs at the TTL and finds the request answered (its claim is taken).
    wait_for(lambda: any(r.get("reason") == "answered before expiry" for r in bot.log_records()))
    assert "denied" in slack.messages[prompt["ts"]]["text"] and not expired_notices(slack, ts)
    assert [r["outcome"] for r in bot.log_records() if r.get("message") == "mcp_approval"] == ["denied"]


def test_a_double_click_resumes_the_answer_once(start_bot, slack, model):
    bot, ts, prompt = ask_for_approval(start_bot, slack, model)
    model.plans.append(
        Plan(
            tokens=words("Your contact is Jane."),
            items=[mcp_call("find_customer", {"name": "ACME"}, server_label="crm", output="Jane", approval_request_id="mcpr_1")],
        )
    )
    clicks = [click(prompt, "mcp_approve") for _ in range(2)]
    for n, payload in enumerate(clicks):  # two distinct clicks, as Slack sends them (own action_ts)
        payload["actions"][0]["action_ts"] = f"{time.time():.6f}{n}"
    threads = [threading.Thread(target=bot.post_form, args=(p,)) for p in clicks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    wait_for(lambda: any(m["text"] == "Your contact is Jane." for m in slack.bot_messages("D1", ts)))
    settle()
    assert len(model.requests) == 2
    assert [r["outcome"] for r in bot.log_records() if r.get("message") == "mcp_approval"] == ["approved"]


def test_clicks_on_two_instances_resume_the_answer_once(start_bot, slack, model, firestore_emulator):
    shared = {
        "USAGE_STORE": "firestore",
        "FIRESTORE_EMULATOR_HOST": firestore_emulator,
        "GOOGLE_CLOUD_PROJECT": f"e2e-{uuid.uuid4().hex[:12]}",
    }
    first, ts, prompt = ask_for_approval(start_bot, slack, model, **shared)
    second = start_bot(OPENAI_API="responses", MCP_SERVERS=first.env["MCP_SERVERS"], **shared)
    model.plans.append(
        Plan(
            tokens=words("Your contact is Jane."),
            items=[mcp_call("find_customer", {"name": "ACME"}, server_label="crm", output="Jane", approval_request_id="mcpr_1")],
        )
    )
    payload = click(prompt, "mcp_approve")  # one click that reached both (each instance's own dedup lets it in)
    threads = [threading.Thread(target=b.post_form, args=(payload,)) for b in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    wait_for(lambda: any(m["text"] == "Your contact is Jane." for m in slack.bot_messages("D1", ts)), timeout=20)

    def acted():
        return [
            r for b in (first, second) for r in b.log_records() if r.get("message") in ("mcp_approval", "mcp_approval_ignored")
        ]

    records = wait_for(lambda: acted() if len(acted()) == 2 else None)
    assert sorted(r.get("outcome") or r.get("reason") for r in records) == ["already answered", "approved"]
    settle()
    assert len(model.requests) == 2


def test_the_expiry_is_a_cloud_tasks_task_run_at_its_schedule_time(start_tasks_bot, tasks, slack, model):  # noqa: F811
    asked = []

    def start(**env):
        bot = start_tasks_bot(**env)
        asked.append(time.time())  # the question is posted next
        return bot

    bot, ts, prompt = ask_for_approval(start, slack, model, MCP_APPROVAL_TTL_SECONDS="1")
    expiry = wait_for(lambda: [t for t in tasks.created if "scheduleTime" in t])
    seen = time.time()
    job = Job.from_json(base64.b64decode(expiry[0]["httpRequest"]["body"]))
    assert job.kind == "mcp_approval_expire" and job.message_ts == prompt["ts"] and "ACME" not in json.dumps(job.extra)
    # The TTL after the moment the prompt was posted, some time between the question and now (how
    # long that took is the machine's load, not the schedule's).
    assert asked[0] + 1.0 <= _rfc3339_utc(expiry[0]["scheduleTime"]) <= seen + 1.0
    wait_for(lambda: expired_notices(slack, ts), timeout=10)
    # the fake records a delivery once the function has answered it, which may be after the notice
    delivered = wait_for(lambda: [d for d in tasks.deliveries if d["name"] == expiry[0]["name"]])
    assert delivered[0]["status"] == 200 and delivered[0]["at"] >= _rfc3339_utc(expiry[0]["scheduleTime"])
    assert not has_buttons(slack.messages[prompt["ts"]])


def test_the_task_body_carries_a_utc_schedule_time():
    handoff = CloudTasksHandoff(queue=QUEUE, function_url="https://f", invoker_sa="sa@p", endpoint="http://127.0.0.1:1")
    job = Job(kind="mcp_approval_expire", team="T1", channel="D1", user="U1", message_ts="2.0")
    assert "scheduleTime" not in handoff.task_body(job)["task"]
    before = time.time()
    at = _rfc3339_utc(handoff.task_body(job, delay_s=600)["task"]["scheduleTime"])
    assert before + 600 <= at <= time.time() + 600
    assert schedule_time(0.5, now=0.0) == "1970-01-01T00:00:00.500000Z"


def test_the_queue_refuses_a_malformed_schedule_time(tasks):  # noqa: F811
    import urllib.error
    import urllib.request

    body = json.dumps({"task": {"name": f"{QUEUE}/tasks/x", "scheduleTime": "in ten minutes", "httpRequest": {}}}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{tasks.url}/v2/{QUEUE}/tasks", data=body, method="POST"), timeout=5)
    assert refused.value.code == 400 and not tasks.created


def test_ttl_words():
    assert [ttl_words(s) for s in (600, 60, 1, 90, 0.2)] == ["10 minutes", "1 minute", "1 second", "90 seconds", "1 second"]


def test_memory_claims_are_once_until_kept_no_longer():
    now = [100.0]
    claims = MemoryClaims(clock=lambda: now[0])
    assert claims.claim("a", 10) and not claims.claim("a", 10) and claims.claim("b", 10)
    now[0] = 111.0
    assert claims.claim("a", 10)


def test_firestore_claims_are_once_across_instances(firestore_emulator, monkeypatch):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator)
    project = f"claims-{uuid.uuid4().hex[:12]}"
    instances = [FirestoreClaims(project=project) for _ in range(4)]
    won, barrier = [], threading.Barrier(len(instances))

    def race(claims):
        barrier.wait(5)
        won.append(claims.claim("mcp_approval:resp_1:mcpr_1", 3600))

    threads = [threading.Thread(target=race, args=(c,)) for c in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(won) == [False, False, False, True]
    from google.cloud import firestore

    doc = firestore.Client(project=project).collection("usage").document(claim_doc_id("mcp_approval:resp_1:mcpr_1")).get()
    fields = doc.to_dict()
    assert fields["kind"] == "claim" and fields["expires_at"].timestamp() > time.time() + 3000


def test_two_requests_in_one_response_are_one_prompt_and_one_resume(start_bot, slack, model):
    bot = start_bot(OPENAI_API="responses", MCP_SERVERS=json.dumps(SERVERS))
    model.plans.append(
        Plan(
            tokens=[],
            items=[
                mcp_list_tools("crm", ["find_customer", "list_orders"]),
                mcp_approval_request("find_customer", {"name": "ACME"}, server_label="crm", id="mcpr_1"),
                mcp_approval_request("list_orders", {"customer": "ACME"}, server_label="crm", id="mcpr_2"),
            ],
        )
    )
    ts = slack.add_message("D1", "ACME's contact and orders?")
    assert bot.post_json(dm("ACME's contact and orders?", ts)).status == 200
    (prompt,) = wait_for(lambda: approval_prompts(slack, "D1", ts))
    settle()
    assert len(approval_prompts(slack, "D1", ts)) == 1  # not one prompt per request: two clicks would mean two answers
    text = json.dumps(prompt["blocks"])
    assert "find_customer" in text and "list_orders" in text and "Approve all 2" in text
    model.plans.append(
        Plan(
            tokens=words("Jane; 3 orders."),
            items=[
                mcp_call(
                    "find_customer", {"name": "ACME"}, server_label="crm", output="Jane", approval_request_id="mcpr_1", id="mcp_1"
                ),
                mcp_call(
                    "list_orders", {"customer": "ACME"}, server_label="crm", output="3", approval_request_id="mcpr_2", id="mcp_2"
                ),
            ],
        )
    )
    assert bot.post_form(click(prompt, "mcp_approve")).status == 200
    wait_for(lambda: any(m["text"] == "Jane; 3 orders." for m in slack.bot_messages("D1", ts)))
    assert model.requests[1].body["input"] == [
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": True},
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_2", "approve": True},
    ]
    assert len(model.requests) == 2
