"""Issue 20's config keys: openaiApi, webSearch, mcpServers reach the function's env, and a bad
value is refused at preview with the key named (the same validator the function runs)."""

import pytest

from tests.pulumi_stack import run_stack


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"mcpServers": "[{"}, ["mcpServers", "not valid JSON"]),
        (
            {"mcpServers": '[{"server_label": "x", "server_url": "https://a.example.com", "authorization_secret": "tok"}]'},
            ["mcpServers", "Secret Manager version name"],
        ),
        ({"openaiApi": "assistants"}, ["openaiApi"]),
        ({"webSearch": "yes"}, ["webSearch"]),
        ({"openaiApi": "chat_completions", "webSearch": "on"}, ["openaiApi", "WEB_SEARCH", "responses"]),
        (
            {"openaiApi": "chat_completions", "channelProfiles": '{"C0DATA": {"code_interpreter": true}}'},
            ["openaiApi", "'C0DATA'", "code_interpreter"],
        ),
        (
            {"openaiApi": "chat_completions", "channelProfiles": '{"C0DOCS": {"file_search": {"vector_store_ids": ["vs_1"]}}}'},
            ["openaiApi", "'C0DOCS'", "file_search"],
        ),
    ],
)
def test_bad_tool_config_is_refused_at_preview(settings, named):
    from infra.config import ConfigError

    with pytest.raises(ConfigError) as refused:
        run_stack(settings)
    for words in named:
        assert words in str(refused.value)


def test_tool_config_reaches_the_function_env():
    servers = '[{"server_label": "crm", "server_url": "https://mcp.example.com/mcp"}]'
    mocks, _ = run_stack({"openaiApi": "responses", "webSearch": "on", "mcpServers": servers})
    env = mocks.one("cloudfunctionsv2/function:Function").inputs["serviceConfig"]["environmentVariables"]
    assert env["OPENAI_API"] == "responses" and env["WEB_SEARCH"] == "on" and env["MCP_SERVERS"] == servers


def test_mcp_authorization_secrets_are_readable_by_the_runtime_identity_alone():
    """An MCP server's token secret (made by the admin, not the stack) gets secretAccessor for the
    runtime service account on that secret only; one grant per secret, from mcpServers and profiles."""
    import json

    crm = "projects/team-secrets/secrets/crm-mcp-token/versions/latest"
    servers = json.dumps([{"server_label": "crm", "server_url": "https://mcp.example.com/mcp", "authorization_secret": crm}])
    profiles = json.dumps(
        {
            "C0SALES": {
                "mcp_servers": [
                    {
                        "server_label": "crm",
                        "server_url": "https://mcp.example.com/mcp",
                        "authorization_secret": crm.replace("latest", "3"),
                    },
                    {
                        "server_label": "wiki",
                        "server_url": "https://wiki.example.com/mcp",
                        "authorization_secret": "projects/p/secrets/wiki-token/versions/1",
                    },
                ]
            }
        }
    )
    mocks, _ = run_stack({"openaiApi": "responses", "mcpServers": servers, "channelProfiles": profiles})
    from tests.integration.test_infra import RUNTIME as member

    reads = sorted(
        (r.inputs["project"], r.inputs["secretId"], r.inputs["member"])
        for r in mocks.of_type("SecretIamMember")
        if r.inputs["secretId"] in ("crm-mcp-token", "wiki-token")
    )
    assert reads == [("p", "wiki-token", member), ("team-secrets", "crm-mcp-token", member)]
    assert all(
        r.inputs["role"] == "roles/secretmanager.secretAccessor"
        for r in mocks.of_type("SecretIamMember")
        if r.inputs["secretId"] in ("crm-mcp-token", "wiki-token")
    )
    assert not [r for r in mocks.of_type("IAMMember") if "secretmanager" in r.inputs.get("role", "")]  # never project-wide


def test_no_mcp_secret_no_extra_grant():
    mocks, _ = run_stack({})
    assert sorted(
        r.inputs["secretId"] for r in mocks.of_type("SecretIamMember") if r.inputs["role"] == "roles/secretmanager.secretAccessor"
    ) == ["slack-bot-openai-api-key", "slack-bot-slack-bot-token", "slack-bot-slack-signing-secret"]
