"""The agent_view manifest against the Slack fake's App Manifest API: a new app can't be created with
assistant_view, and an existing stack-managed app declared with it is migrated in place by the next
`pulumi up` (SlackAppProvider.update -> apps.manifest.update, same app id)."""

import copy

import yaml

from infra.manifest import AGENT_DESCRIPTION_LIMIT, TEMPLATE, render
from infra.slack_app import SlackAppError, SlackAppProvider
from tests.e2e.test_slack_app import clock, full_manifest, props, token  # noqa: F401  (fixtures)


def legacy_manifest():
    """The manifest an app created before the move carries: assistant_view and its events."""
    m = copy.deepcopy(full_manifest())
    view = m["features"].pop("agent_view")
    m["features"]["assistant_view"] = {
        "assistant_description": view["agent_description"],
        "suggested_prompts": view["suggested_prompts"],
    }
    events = m["settings"]["event_subscriptions"]["bot_events"]
    events[:] = [e for e in events if e not in ("app_context_changed", "agent_session_stopped")]
    events += ["assistant_thread_started", "assistant_thread_context_changed"]
    return m


def test_every_variant_renders_agent_view_and_no_assistant_view():
    for options in (
        {"function_url": "https://x/y"},
        {"function_url": None, "socket_mode": True},
        {"function_url": "https://x/y", "redirect_url": "https://x/y/slack/oauth_redirect", "every_message": True},
    ):
        m = yaml.safe_load(render(TEMPLATE.read_text(), bot_name="Bot", **options))
        assert "assistant_view" not in m["features"]
        assert 0 < len(m["features"]["agent_view"]["agent_description"]) <= AGENT_DESCRIPTION_LIMIT
        assert {"agent_session_stopped", "app_context_changed", "app_home_opened"} <= set(
            m["settings"]["event_subscriptions"]["bot_events"]
        )


def test_a_new_app_with_assistant_view_is_refused(slack, token):  # noqa: F811
    try:
        SlackAppProvider().create(props(slack, token, manifest=legacy_manifest()))
    except SlackAppError as exc:
        assert "/features/assistant_view" in str(exc)
    else:
        raise AssertionError("the fake created a new app with assistant_view")
    assert slack.live_apps() == {}


def test_an_existing_assistant_view_app_is_migrated_by_the_next_up(slack, token):  # noqa: F811
    # An app the stack created before the move: seeded as Slack holds it (create would refuse it now).
    created = SlackAppProvider().create(props(slack, token))
    app_id = created.id
    slack.apps_state["apps"][app_id]["manifest"] = legacy_manifest()
    old = props(slack, token, manifest=legacy_manifest())
    new = props(slack, token)
    diff = SlackAppProvider().diff(app_id, old, new)
    assert diff.changes and not diff.replaces  # an in-place update, never a new app
    SlackAppProvider().update(app_id, old, new)
    live = slack.apps_state["apps"][app_id]["manifest"]
    assert "assistant_view" not in live["features"] and live["features"]["agent_view"]
    assert set(slack.live_apps()) == {app_id}
