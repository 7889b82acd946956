"""AnswerQueue: the Cloud Tasks queue between the ack and the answer.

Retries fit "answer once": the task route answers 2xx for anything it showed the user (even an
error message), so a retry only happens when nothing was shown (a secret unreadable, an instance
lost); the worker also checks the thread before answering a redelivered task. The runtime
identity may enqueue (roles/cloudtasks.enqueuer on this queue only) and act as the invoker
(iam.serviceAccountUser on that one account only) so its tasks can carry the invoker's token.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

# Cloud Tasks stops retrying only when max_attempts AND max_retry_duration are both reached
# (RetryConfig reference, cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues#RetryConfig).
# A long max_retry_duration would therefore retry a quickly failing task far more than
# max_attempts times (600 s with these backoffs: about a dozen attempts). A duration no longer
# than the first backoff has always passed by the first retry, so max_attempts alone decides.
MIN_BACKOFF = "5s"


class AnswerQueue(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        project: str,
        region: str,
        runtime_member: pulumi.Input[str],
        invoker_account_id: pulumi.Input[str],
        max_dispatches_per_second: float,
        max_concurrent_dispatches: int,
        max_attempts: int,
        suffix: pulumi.Input[str],
        depends_on: list | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("teambot:infra:AnswerQueue", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.queue = gcp.cloudtasks.Queue(
            f"{name}-answers",
            project=project,
            location=region,
            name=pulumi.Output.concat(name, "-answers-", suffix),  # naming.generation_suffix: why
            rate_limits={
                "max_dispatches_per_second": max_dispatches_per_second,
                "max_concurrent_dispatches": max_concurrent_dispatches,
            },
            retry_config={
                "max_attempts": max_attempts,
                "min_backoff": MIN_BACKOFF,
                "max_backoff": "60s",
                "max_doublings": 3,
                "max_retry_duration": MIN_BACKOFF,
            },
            # ignore_changes: a stack created before the suffix keeps its queue (and the tasks in it).
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or [], ignore_changes=["name"]),
        )
        self.enqueuer = gcp.cloudtasks.QueueIamMember(
            f"{name}-enqueuer",
            project=project,
            location=region,
            name=self.queue.name,
            role="roles/cloudtasks.enqueuer",
            member=runtime_member,
            opts=child,
        )
        self.act_as = gcp.serviceaccount.IAMMember(
            f"{name}-act-as-invoker",
            service_account_id=invoker_account_id,
            role="roles/iam.serviceAccountUser",
            member=runtime_member,
            opts=child,
        )
        self.path = pulumi.Output.concat("projects/", project, "/locations/", region, "/queues/", self.queue.name)
        self.register_outputs({"queue": self.path})
