"""The stack, composed: APIs -> identities -> [Slack app] -> secrets, queue, usage store, source -> function
-> manifest; monitoring.

Run by the project root's `__main__.py` (Pulumi.yaml has no `main:`: the program directory is the
project root, see that file for why); the root is then on sys.path and `infra.*` imports as a package.

With `slackConfigToken` set the stack manages the Slack app, in this order (why: infra/slack_app.py):
app created without request URLs -> its signing/client secrets into Secret Manager -> function
-> full manifest applied. Without it, the manual path: nothing Slack-side is created.
"""

from pathlib import Path

import pulumi
import pulumiverse_time

from infra import config
from infra.apis import ProjectApis
from infra.bot_function import BotFunction
from infra.bot_secrets import BotSecrets
from infra.identities import ServiceIdentities
from infra.manifest import INSTALL_PATH, OAUTH_REDIRECT_PATH, TEMPLATE, bot_scopes, manifest_dict, render
from infra.monitoring import Monitoring
from infra.naming import generation_suffix
from infra.slack_app import SlackApp, SlackAppManifest
from infra.source_archive import FunctionSource
from infra.task_queue import AnswerQueue
from infra.usage_store import UsageStore

ROOT = Path(__file__).resolve().parents[1]


def member(account):
    return account.email.apply(lambda email: f"serviceAccount:{email}")


cfg = config.load()
apis = ProjectApis("apis", cfg.project)
ids = ServiceIdentities(cfg.name, cfg.project, opts=pulumi.ResourceOptions(depends_on=apis.services))
managed = cfg.slack_config_token is not None
manifest = manifest_dict(
    TEMPLATE.read_text(),
    function_url=cfg.function_url,
    bot_name=cfg.bot_name,
    redirect_url=cfg.function_url + OAUTH_REDIRECT_PATH if managed else None,
    suggested_prompts=cfg.suggested_prompts,
    every_message=cfg.every_message,
)
slack_app = (
    SlackApp(
        f"{cfg.name}-slack-app",
        manifest=manifest,
        config_token=cfg.slack_config_token,
        api_url=cfg.slack_api_url,
        token_file=cfg.slack_config_token_file,
    )
    if managed
    else None
)
secrets = BotSecrets(
    cfg.name,
    project=cfg.project,
    accessor=member(ids.runtime),
    depends_on=apis.services,
    values={
        "OPENAI_API_KEY": cfg.openai_api_key,
        "SLACK_BOT_TOKEN": cfg.slack_bot_token,
        "SLACK_SIGNING_SECRET": slack_app.signing_secret if managed else cfg.slack_signing_secret,
        **({"SLACK_CLIENT_SECRET": slack_app.client_secret} if managed else {}),
    },
    writable=("SLACK_BOT_TOKEN",) if managed else (),
    readable=cfg.mcp_authorization_secrets,  # MCP servers' authorization_secret: read by the function
)
# When this stack first created its resources, kept in state: the suffix of the names Google keeps
# reserved after a delete (infra/naming.py generation_suffix), new after a destroy.
created = pulumiverse_time.Static(f"{cfg.name}-created")
suffix = created.unix.apply(generation_suffix)
queue = AnswerQueue(
    cfg.name,
    project=cfg.project,
    region=cfg.region,
    runtime_member=member(ids.runtime),
    invoker_account_id=ids.invoker.name,
    max_dispatches_per_second=cfg.queue_max_dispatches_per_second,
    max_concurrent_dispatches=cfg.queue_max_concurrent_dispatches,
    max_attempts=cfg.queue_max_attempts,
    suffix=suffix,
    depends_on=apis.services,
)
usage = UsageStore(
    cfg.name,
    project=cfg.project,
    location=cfg.region,
    runtime_member=member(ids.runtime),
    suffix=suffix,
    depends_on=apis.services,
)
source = FunctionSource(
    cfg.name,
    project=cfg.project,
    region=cfg.region,
    root=ROOT / "function",
    retention_days=cfg.source_retention_days,
    depends_on=apis.services,
)
function = BotFunction(
    cfg.name,
    project=cfg.project,
    region=cfg.region,
    runtime=cfg.runtime,
    source_bucket=source.bucket.name,
    source_object=source.object.name,
    runtime_email=ids.runtime.email,
    build_account_id=ids.build.name,
    public_access=cfg.public_access,
    environment={
        **cfg.function_env,
        **config.function_runtime_env(cfg),
        **secrets.version_names,
        "TASKS_QUEUE": queue.path,
        "TASKS_INVOKER_SA": ids.invoker.email,
        "FUNCTION_URL": cfg.function_url,
        "USAGE_STORE": "firestore",
        "FIRESTORE_DATABASE": usage.database.name,
        **({"SLACK_CLIENT_ID": slack_app.client_id, "SLACK_BOT_SCOPES": bot_scopes(manifest)} if managed else {}),
    },
    memory=cfg.memory,
    cpu=cfg.cpu,
    timeout_seconds=cfg.timeout_seconds,
    concurrency=cfg.concurrency,
    min_instances=cfg.min_instances,
    max_instances=cfg.max_instances,
    depends_on=[
        *apis.services,
        *secrets.grants,
        *secrets.versions,
        queue.enqueuer,
        queue.act_as,
        *ids.build_grants,
        ids.build_ready,
        usage.grant,
    ],
)
if managed:  # now the function can verify Slack's url_verification: give Slack the request URLs
    SlackAppManifest(
        f"{cfg.name}-slack-app-manifest",
        app_id=slack_app.app_id,
        manifest=manifest,
        config_token=cfg.slack_config_token,
        api_url=cfg.slack_api_url,
        token_file=cfg.slack_config_token_file,
        opts=pulumi.ResourceOptions(depends_on=[function.function, function.public]),
    )
monitoring = Monitoring(
    cfg.name, project=cfg.project, service_name=cfg.name, alert_email=cfg.alert_email, depends_on=apis.services
)

pulumi.export("function_url", cfg.function_url)
pulumi.export("service_url", function.function.url)
pulumi.export(
    "slack_manifest",
    render(
        TEMPLATE.read_text(),
        function_url=cfg.function_url,
        bot_name=cfg.bot_name,
        redirect_url=cfg.function_url + OAUTH_REDIRECT_PATH if managed else None,
        suggested_prompts=cfg.suggested_prompts,
        every_message=cfg.every_message,
    ),
)
if managed:
    pulumi.export("install_url", cfg.function_url + INSTALL_PATH)
    pulumi.export("slack_app_id", slack_app.app_id)
pulumi.export("secrets", secrets.secret_ids)
pulumi.export("queue", queue.path)
pulumi.export("dashboard_url", monitoring.dashboard_url)
