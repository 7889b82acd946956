"""The stack, composed: APIs -> identities -> secrets, queue, source -> function -> manifest."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # Pulumi runs this folder as a script; make `infra.*` importable
    sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402

from infra import config  # noqa: E402
from infra.apis import ProjectApis  # noqa: E402
from infra.bot_function import BotFunction  # noqa: E402
from infra.bot_secrets import BotSecrets  # noqa: E402
from infra.identities import ServiceIdentities  # noqa: E402
from infra.manifest import TEMPLATE, render  # noqa: E402
from infra.source_archive import FunctionSource  # noqa: E402
from infra.task_queue import AnswerQueue  # noqa: E402


def member(account):
    return account.email.apply(lambda email: f"serviceAccount:{email}")


cfg = config.load()
apis = ProjectApis("apis", cfg.project)
ids = ServiceIdentities(cfg.name, cfg.project, opts=pulumi.ResourceOptions(depends_on=apis.services))
secrets = BotSecrets(
    cfg.name, project=cfg.project, accessor=member(ids.runtime), depends_on=apis.services,
    values={"OPENAI_API_KEY": cfg.openai_api_key, "SLACK_BOT_TOKEN": cfg.slack_bot_token,
            "SLACK_SIGNING_SECRET": cfg.slack_signing_secret},
)
queue = AnswerQueue(
    cfg.name, project=cfg.project, region=cfg.region, runtime_member=member(ids.runtime),
    invoker_account_id=ids.invoker.name, max_dispatches_per_second=cfg.queue_max_dispatches_per_second,
    max_concurrent_dispatches=cfg.queue_max_concurrent_dispatches, max_attempts=cfg.queue_max_attempts,
    depends_on=apis.services,
)
source = FunctionSource(
    cfg.name, project=cfg.project, region=cfg.region, root=ROOT / "function",
    retention_days=cfg.source_retention_days, build_member=member(ids.build), depends_on=apis.services,
)
function = BotFunction(
    cfg.name, project=cfg.project, region=cfg.region, runtime=cfg.runtime,
    source_bucket=source.bucket.name, source_object=source.object.name,
    runtime_email=ids.runtime.email, build_account_id=ids.build.name, invoker_member=member(ids.invoker),
    environment={
        **cfg.function_env,
        **secrets.version_names,
        "TASKS_QUEUE": queue.path,
        "TASKS_INVOKER_SA": ids.invoker.email,
        "FUNCTION_URL": cfg.function_url,
    },
    memory=cfg.memory, cpu=cfg.cpu, timeout_seconds=cfg.timeout_seconds, concurrency=cfg.concurrency,
    min_instances=cfg.min_instances, max_instances=cfg.max_instances,
    depends_on=[*apis.services, *secrets.grants, queue.enqueuer, queue.act_as, *ids.build_grants, source.build_reader],
)

pulumi.export("function_url", cfg.function_url)
pulumi.export("service_url", function.function.url)
pulumi.export("slack_manifest", render(TEMPLATE.read_text(), function_url=cfg.function_url, bot_name=cfg.bot_name,
                                      suggested_prompts=cfg.suggested_prompts))
pulumi.export("secrets", secrets.secret_ids)
pulumi.export("queue", queue.path)
