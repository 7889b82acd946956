"""Which OAuth scopes each Slack Web API method and event needs, for the bot token.

tests/unit/test_manifest_scopes.py keeps slack_manifest.yaml in step with this table and with the
code: every method the function calls (`slack.call("chat_postMessage", ...)`,
`client.chat_postMessage(...)`) must have a line here, and the manifest must request exactly the
scopes the called methods, subscribed events and enabled features need. Adding a method: one
line below, in API form ("chat.postMessage"), with the scopes from its page on
docs.slack.dev/reference/methods. A method that needs no scope still gets a line (an empty tuple).

Where a method lists one scope per conversation type (conversations.replies:
channels/groups/im/mpim:history), the line holds all of them: the bot answers in all four.
"""

METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.startStream": ("chat:write",),
    "chat.appendStream": ("chat:write",),
    "chat.stopStream": ("chat:write",),
    # Message metadata comes back with include_all_metadata=true under the same history scopes;
    # metadata.message:read is only for the message_metadata_* events (metadata_subscriptions),
    # which the bot does not use (docs.slack.dev/reference/scopes/metadata.message.read).
    "conversations.replies": ("channels:history", "groups:history", "im:history", "mpim:history"),
    # The AI panel's context: the name of the channel in view (never its content).
    "conversations.info": ("channels:read", "groups:read"),
    # The install route's code exchange authenticates with the client id + secret, not a bot token.
    "oauth.v2.access": (),
    "views.publish": (),  # the App Home tab; no scope (docs.slack.dev/reference/methods/views.publish)
    # Files shared in a conversation (thread_files.py): a file stub's full object. The url_private
    # downloads themselves need the same scope (they are not Web API methods).
    "files.info": ("files:read",),
    # The Translate shortcut reads the clicking user's locale (include_locale needs no other scope).
    "users.info": ("users:read",),
    # Files the code interpreter produced, posted back into the thread (code_files.py): the
    # external upload flow (docs.slack.dev/reference/methods/files.getUploadURLExternal,
    # files.completeUploadExternal: files:write).
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    # Not called yet; listed so that calling them is only a code change (platform notes):
    "assistant.threads.setStatus": ("chat:write",),
    "assistant.threads.setSuggestedPrompts": ("assistant:write",),
    "assistant.threads.setTitle": ("assistant:write",),
    # Agent sessions (docs.slack.dev/ai/agent-sessions): "The chat:write scope is required to manage
    # thread-based sessions"; the DM's greeting check reads its top-level history.
    "agents.sessions.setStatus": ("chat:write",),
    "agents.sessions.rename": ("chat:write",),
    "conversations.history": ("channels:history", "groups:history", "im:history", "mpim:history"),
}

# slack_sdk helpers that call several methods (slack_sdk/web/client.py, chat_stream -> ChatStream).
SDK_HELPERS: dict[str, tuple[str, ...]] = {
    "chat_stream": ("chat.startStream", "chat.appendStream", "chat.stopStream"),
}

# settings.event_subscriptions.bot_events -> scopes (docs.slack.dev/reference/events/<event>).
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "app_mention": ("app_mentions:read",),
    "message.im": ("im:history",),
    "assistant_thread_started": (),  # assistant:write comes with features.assistant_view
    "assistant_thread_context_changed": (),
    "app_home_opened": (),  # no scope (docs.slack.dev/reference/events/app_home_opened)
    "app_context_changed": (),  # needs features.agent_view (docs.slack.dev/reference/events/app_context_changed)
    "agent_session_stopped": (),  # docs.slack.dev/reference/events/agent_session_stopped
    # Rendered only when a channel profile has answer_every_message (infra/manifest.py).
    "message.channels": ("channels:history",),
    "message.groups": ("groups:history",),
}

# Manifest features that need a scope of their own: message shortcuts need `commands`
# (docs.slack.dev/interactivity/implementing-shortcuts).
FEATURE_SCOPES: dict[str, tuple[str, ...]] = {
    "shortcuts": ("commands",),
    "assistant_view": ("assistant:write",),
    "agent_view": ("assistant:write",),  # "Declaring an app as an agent adds the assistant:write scope"
}


def api_method(python_name: str) -> tuple[str, ...]:
    """slack_sdk's method name -> the Web API method(s) it calls: chat_postMessage -> chat.postMessage."""
    if "." in python_name:
        return (python_name,)
    return SDK_HELPERS.get(python_name, (python_name.replace("_", "."),))
