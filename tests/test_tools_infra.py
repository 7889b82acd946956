"""Issue 20's config keys: openaiApi, webSearch, mcpServers reach the function's env, and a bad
value is refused at preview with the key named (the same validator the function runs)."""

import pytest

from tests.pulumi_stack import run_stack


@pytest.mark.parametrize("settings, named", [
    ({"mcpServers": "[{"}, ["mcpServers", "not valid JSON"]),
    ({"mcpServers": '[{"server_label": "x", "server_url": "https://a.example.com", "authorization_secret": "tok"}]'},
     ["mcpServers", "Secret Manager version name"]),
    ({"openaiApi": "assistants"}, ["openaiApi"]),
    ({"webSearch": "yes"}, ["webSearch"]),
])
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
