"""Issue 20: the team's tools over MCP, with approval in Slack, end to end over loopback: the
real function, the real openai SDK against the Responses fake, Slack's block_actions clicks."""

import json
import threading
import time

import pytest

from tests.fakes.openai_api import Plan, mcp_approval_request, mcp_call, mcp_list_tools, words
from tests.harness import block_actions, dm, settle, wait_for

SERVERS = [{"server_label": "crm", "server_url": "https://mcp.example.com/mcp", "allowed_tools": ["find_customer"]}]


def approval_prompts(slack, channel, thread_ts):
    return [
        m
        for m in slack.bot_messages(channel, thread_ts)
        if any(b.get("type") == "actions" and b.get("block_id") == "mcp_approval" for b in m.get("blocks") or [])
    ]


def click(message: dict, action_id: str, *, user="U1", team="T1") -> dict:
    """A click on the approval prompt's button `action_id`."""
    button = next(
        e for b in message["blocks"] if b.get("type") == "actions" for e in b["elements"] if e["action_id"] == action_id
    )
    action = {
        "type": "button",
        "action_id": action_id,
        "block_id": "mcp_approval",
        "value": button["value"],
        "text": button["text"],
        "action_ts": f"{time.time():.6f}",
    }
    return block_actions(message, action, user=user, team=team)


def approval_plan() -> Plan:
    """The model's answer to "Who is our contact at ACME?": it asks to call find_customer on crm."""
    return Plan(
        tokens=[],
        items=[
            mcp_list_tools("crm", ["find_customer"]),
            mcp_approval_request("find_customer", {"name": "ACME"}, server_label="crm", id="mcpr_1"),
        ],
    )


def ask_for_approval(start_bot, slack, model, **env):
    bot = start_bot(OPENAI_API="responses", MCP_SERVERS=json.dumps(SERVERS), **env)
    model.plans.append(approval_plan())
    ts = slack.add_message("D1", "Who is our contact at ACME?")
    assert bot.post_json(dm("Who is our contact at ACME?", ts)).status == 200
    prompt = wait_for(lambda: approval_prompts(slack, "D1", ts))[0]
    return bot, ts, prompt


def test_mcp_servers_are_sent_as_mcp_tools_and_an_approved_call_resumes_the_chain(start_bot, slack, model):
    bot, ts, prompt = ask_for_approval(start_bot, slack, model)
    first = model.requests[0].body
    assert first["tools"] == [
        {
            "type": "mcp",
            "server_label": "crm",
            "server_url": "https://mcp.example.com/mcp",
            "require_approval": "always",
            "allowed_tools": ["find_customer"],
        }
    ]
    text = json.dumps(prompt["blocks"])
    assert "find_customer" in text and "ACME" in text and "Approve" in text and "Deny" in text
    waiting = [m for m in slack.bot_messages("D1", ts) if m not in (prompt,)]
    assert any("Waiting for approval" in m["text"] for m in waiting)
    model.plans.append(
        Plan(
            tokens=words("Your contact is Jane."),
            items=[mcp_call("find_customer", {"name": "ACME"}, server_label="crm", output="Jane", approval_request_id="mcpr_1")],
        )
    )
    # The click is acknowledged without waiting for the resumed answer: its job's first write (the
    # prompt's update) is held, and the acknowledgement still comes, with the model not asked yet.
    slack.held["chat.update"] = release = threading.Event()
    try:
        r = bot.post_form(click(prompt, "mcp_approve"))
        assert r.status == 200
        wait_for(lambda: [c for c in slack.calls if c["method"] == "chat.update" and c["ts"] == prompt["ts"]])
        assert len(model.requests) == 1
    finally:
        release.set()
    wait_for(lambda: len(model.requests) == 2)
    second = model.requests[1].body
    assert second["previous_response_id"] == model.requests[0].response_id
    assert second["input"] == [{"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": True}]
    assert second["instructions"] == first["instructions"] and second["tools"] == first["tools"]  # not carried over
    wait_for(lambda: any(m["text"] == "Your contact is Jane." for m in slack.bot_messages("D1", ts)))
    assert "approved" in slack.messages[prompt["ts"]]["text"] and not any(
        b.get("type") == "actions" for b in slack.messages[prompt["ts"]].get("blocks") or []
    )
    # Two answers, the asking one and the resumed one; their log lines come in either order, since
    # the click can resume the chain before the asking job has written its own line.
    records = wait_for(
        lambda: [r for r in bot.log_records() if r.get("message") == "answer" and r["outcome"] != "awaiting_approval"]
    )
    assert len(records) == 1 and records[0]["outcome"] == "done" and records[0]["tool_calls"] == {"mcp": 1}
    assert "ACME" not in bot.logs() and "Jane" not in bot.logs()


def test_a_denied_call_ends_politely_without_calling_the_model(start_bot, slack, model):
    bot, ts, prompt = ask_for_approval(start_bot, slack, model)
    assert bot.post_form(click(prompt, "mcp_deny")).status == 200
    wait_for(lambda: any("didn't call" in m["text"] for m in slack.bot_messages("D1", ts)))
    assert "denied" in slack.messages[prompt["ts"]]["text"]
    settle()
    assert len(model.requests) == 1


def test_only_the_asker_may_click(start_bot, slack, model):
    bot, ts, prompt = ask_for_approval(start_bot, slack, model)
    assert bot.post_form(click(prompt, "mcp_approve", user="U2")).status == 200
    wait_for(lambda: slack.ephemerals)
    assert slack.ephemerals[0]["user"] == "U2" and "Only <@U1>" in slack.ephemerals[0]["text"]
    settle()
    assert len(model.requests) == 1 and any(b.get("type") == "actions" for b in slack.messages[prompt["ts"]]["blocks"])


def test_an_expired_request_is_not_resumed(start_bot, slack, model):
    bot, ts, prompt = ask_for_approval(start_bot, slack, model)
    payload = click(prompt, "mcp_approve")
    value = json.loads(payload["actions"][0]["value"])
    value["x"] = int(time.time()) - 1  # as Slack would send it 10 minutes later
    payload["actions"][0]["value"] = json.dumps(value)
    assert bot.post_form(payload).status == 200
    wait_for(lambda: any("within 10 minutes" in m["text"] for m in slack.bot_messages("D1", ts)))
    assert "expired" in slack.messages[prompt["ts"]]["text"] and len(model.requests) == 1


def test_a_failing_tool_is_a_visible_error_step(model):
    from teambot.core.steps import ERROR, Step
    from tests.e2e.test_tools_responses import model_ops

    model.default_plan = Plan(
        tokens=words("The tool failed, sorry."),
        items=[
            mcp_call(
                "find_customer",
                {"name": "ACME"},
                server_label="crm",
                error={"type": "http_error", "code": 502, "message": "Bad gateway"},
            )
        ],
    )
    ops = model_ops(model, MCP_SERVERS=json.dumps(SERVERS))
    from teambot.core.jobs import Job

    items = list(ops.stream([{"role": "user", "content": "q"}], job=Job("questions", "T1", "C1", "U1", "1.1")))
    steps = [i for i in items if isinstance(i, Step)]
    assert steps[-1].status == ERROR and steps[-1].output == "failed: Bad gateway"
    assert steps[-1].title == "Calling find_customer on crm"
    assert "".join(i for i in items if isinstance(i, str)) == "The tool failed, sorry."


def test_stop_in_the_middle_of_a_tool_call_closes_the_stream(model):
    from teambot.core.jobs import Job
    from tests.e2e.test_tools_responses import model_ops

    model.default_plan = Plan(tokens=["late"], item_delay_s=3.0, items=[mcp_call("slow", {}, server_label="crm", output="x")])
    stream = model_ops(model, MCP_SERVERS=json.dumps(SERVERS)).stream(
        [{"role": "user", "content": "q"}], job=Job("questions", "T1", "C1", "U1", "1.1")
    )
    got = []
    reader = threading.Thread(target=lambda: got.extend(stream), daemon=True)
    reader.start()
    wait_for(lambda: got)  # the tool call's step is showing
    stream.close()
    reader.join(5)
    assert not reader.is_alive() and "late" not in got
    closed = time.monotonic()
    wait_for(lambda: model.requests[0].hung_up or model.requests[0].finished, timeout=6)
    assert model.requests[0].hung_up and not model.requests[0].finished
    assert model.requests[0].ended_at - closed < 1.0  # the tool's wait ended with the connection


@pytest.mark.parametrize(
    "raw, message",
    [
        ("[{", "MCP_SERVERS is not valid JSON"),
        ('{"server_label": "x"}', "MCP_SERVERS must be a JSON list"),
        ('[{"server_label": "x", "server_url": "http://plain.example.com"}]', "https://"),
        ('[{"server_label": "x", "server_url": "https://a.example.com", "require_approval": "sometimes"}]', "always or never"),
        (
            '[{"server_label": "x", "server_url": "https://a.example.com", "authorization_secret": "sk-literal"}]',
            "Secret Manager version name",
        ),
        ('[{"server_label": "x", "server_url": "https://a.example.com", "headers": {}}]', "unknown key 'headers'"),
    ],
)
def test_bad_mcp_servers_are_refused_naming_the_variable(raw, message):
    from teambot.core.settings import Settings

    with pytest.raises(ValueError, match="MCP_SERVERS") as exc:
        Settings.from_env({"MCP_SERVERS": raw})
    assert message in str(exc.value)


def test_profile_mcp_servers_replace_the_default_and_secrets_become_authorization(monkeypatch):
    from teambot.answer.tools import tools_for
    from teambot.core.settings import Settings

    secret = "projects/p/secrets/crm-token/versions/latest"
    profiles = {
        "C2": {
            "mcp_servers": [
                {
                    "server_label": "wiki",
                    "server_url": "https://wiki.example.com/mcp",
                    "require_approval": "never",
                    "authorization_secret": secret,
                }
            ]
        }
    }
    settings = Settings.from_env({"MCP_SERVERS": json.dumps(SERVERS), "CHANNEL_PROFILES": json.dumps(profiles)})

    class Secrets:
        def get(self, ref):
            assert ref == secret
            return "token-from-secret-manager"

    assert [t["server_label"] for t in tools_for(settings, settings.profile("C1"), None, Secrets())] == ["crm"]
    (wiki,) = tools_for(settings, settings.profile("C2"), None, Secrets())
    assert wiki == {
        "type": "mcp",
        "server_label": "wiki",
        "server_url": "https://wiki.example.com/mcp",
        "require_approval": "never",
        "authorization": "token-from-secret-manager",
    }
    assert "token-from-secret-manager" not in repr(settings)


def test_authorization_secret_is_read_from_secret_manager_and_never_logged(start_bot, slack, model):
    from tests.e2e.test_answer_e2e import finished
    from tests.fakes.secret_manager import FakeSecretManager

    sm = FakeSecretManager().start()
    try:
        sm.set("crm-mcp-token", "Bearer crm-secret-value-123")
        servers = [{**SERVERS[0], "require_approval": "never", "authorization_secret": sm.ref("crm-mcp-token")}]
        bot = start_bot(OPENAI_API="responses", MCP_SERVERS=json.dumps(servers), SECRET_MANAGER_ENDPOINT=sm.url)
        model.default_plan = Plan(tokens=words("Jane."), items=[mcp_call("find_customer", {"name": "ACME"}, server_label="crm")])
        ts = slack.add_message("D1", "contact at ACME?")
        assert bot.post_json(dm("contact at ACME?", ts)).status == 200
        wait_for(finished(slack, "D1", ts))
        (tool,) = model.requests[0].body["tools"]
        assert tool["authorization"] == "crm-secret-value-123" and tool["require_approval"] == "never"  # the token alone
        assert "crm-secret-value-123" not in bot.logs()
        assert not approval_prompts(slack, "D1", ts)
        assert "crm-secret-value-123" not in json.dumps([m for m in slack.messages.values()])
    finally:
        sm.stop()


@pytest.mark.parametrize(
    "profile, named",
    [
        ({"C9": {"mcp_servers": {"server_label": "x"}}}, ["'C9'", "mcp_servers", "JSON list"]),
        ({"C9": {"mcp_servers": [{"server_label": "a b", "server_url": "https://a.example.com"}]}}, ["'C9'", "server_label"]),
        ({"C9": {"web_search": "yes"}}, ["'C9'", "web_search", "true or false"]),
    ],
)
def test_bad_tool_keys_in_a_profile_name_the_channel_and_the_key(profile, named):
    from teambot.core.profiles import ProfileError, parse_profiles

    with pytest.raises(ProfileError) as exc:
        parse_profiles(json.dumps(profile))
    for words_ in named:
        assert words_ in str(exc.value)
