"""Monitoring: log-based metrics from the per-answer log line, a dashboard, an error-ratio alert.

Source: the JSON line function/teambot/answer/pipeline.py writes once per answer (`"message":"answer"`,
fields outcome, ttft_ms, prompt_tokens, completion_tokens). Cloud Run parses a JSON stdout line
into `jsonPayload` (its `message` stays in jsonPayload.message); a gen2 function's logs carry
`resource.type="cloud_run_revision"` and `resource.labels.service_name=<function name>`.

Metrics (logging.googleapis.com/user/<name>_...):
  answers            counter, label `outcome`
  ttft_ms            distribution (ms), answers that showed a first token
  prompt_tokens      distribution, answers that reported usage
  completion_tokens  distribution
Names use `_` only, so their PromQL names are unambiguous (`logging_googleapis_com:user_<name>`).
The alert: answers whose outcome is an error (anything but the outcomes in OK_OUTCOMES) over all
answers, per 10 minutes, above ERROR_RATIO. Not verifiable here (no Cloud Monitoring): the
resource graph and the documents' shape are tested under mocks.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time

OK_OUTCOMES = ("done", "stopped", "stopped_in_slack", "not_allowed", "duplicate_delivery", "over_budget", "bare_mention")
ERROR_RATIO = 0.2
WINDOW = "600s"
APIS = ("logging.googleapis.com", "monitoring.googleapis.com")
# Cloud Monitoring answers 404 "Cannot find metric(s)" to an alert policy on a log-based metric
# created moments before, for minutes (hashicorp/terraform-provider-google#11102 and kin): the
# policy waits this long after the metrics exist (a pulumiverse_time.Sleep between them; its
# `triggers` are the metric names, so a new or renamed metric waits again).
METRIC_SETTLE = "90s"


def metric_prefix(name: str) -> str:
    return name.replace("-", "_")


def log_filter(service_name: str, extra: str = "") -> str:
    base = (
        f'resource.type="cloud_run_revision" AND resource.labels.service_name="{service_name}" AND jsonPayload.message="answer"'
    )
    return f"{base} AND {extra}" if extra else base


def _distribution(unit: str, description: str, growth: float, scale: float) -> dict:
    return {
        "metric_descriptor": {"metric_kind": "DELTA", "value_type": "DISTRIBUTION", "unit": unit, "display_name": description},
        "bucket_options": {"exponential_buckets": {"num_finite_buckets": 24, "growth_factor": growth, "scale": scale}},
    }


class Monitoring(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        project: str,
        service_name: str,
        alert_email: str = "",
        depends_on: list | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("teambot:infra:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        apis = [
            gcp.projects.Service(
                f"{name}-{api.split('.')[0]}-api", project=project, service=api, disable_on_destroy=False, opts=child
            )
            for api in APIS
        ]
        after = pulumi.ResourceOptions(parent=self, depends_on=[*apis, *(depends_on or [])])
        prefix = metric_prefix(name)
        self.metric_types = {}

        def metric(key: str, **args) -> gcp.logging.Metric:
            metric_name = f"{prefix}_{key}"
            self.metric_types[key] = f"logging.googleapis.com/user/{metric_name}"
            return gcp.logging.Metric(f"{name}-metric-{key}", project=project, name=metric_name, opts=after, **args)

        self.metrics = [
            metric(
                "answers",
                filter=log_filter(service_name),
                metric_descriptor={
                    "metric_kind": "DELTA",
                    "value_type": "INT64",
                    "unit": "1",
                    "display_name": "Answers by outcome",
                    "labels": [{"key": "outcome", "value_type": "STRING", "description": "done, stopped, an error kind..."}],
                },
                label_extractors={"outcome": "EXTRACT(jsonPayload.outcome)"},
            ),
            metric(
                "ttft_ms",
                filter=log_filter(service_name, "jsonPayload.ttft_ms>=0"),
                value_extractor="EXTRACT(jsonPayload.ttft_ms)",
                **_distribution("ms", "Time to first token", 1.5, 10),
            ),  # 10 ms .. ~170 s
            metric(
                "prompt_tokens",
                filter=log_filter(service_name, "jsonPayload.prompt_tokens>0"),
                value_extractor="EXTRACT(jsonPayload.prompt_tokens)",
                **_distribution("1", "Prompt tokens per answer", 1.6, 10),
            ),  # 10 .. ~800k
            metric(
                "completion_tokens",
                filter=log_filter(service_name, "jsonPayload.completion_tokens>0"),
                value_extractor="EXTRACT(jsonPayload.completion_tokens)",
                **_distribution("1", "Completion tokens per answer", 1.6, 10),
            ),
        ]
        metrics_ready = pulumi.ResourceOptions(parent=self, depends_on=[*apis, *self.metrics])
        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=project,
            dashboard_json=json.dumps(dashboard(name, self.metric_types, prefix)),
            opts=metrics_ready,
        )
        self.channel = None
        if alert_email:
            self.channel = gcp.monitoring.NotificationChannel(
                f"{name}-alert-email",
                project=project,
                type="email",
                display_name=f"{name}: alerts",
                labels={"email_address": alert_email},
                opts=after,
            )
        self.metrics_settled = pulumiverse_time.Sleep(
            f"{name}-metrics-settled",
            create_duration=METRIC_SETTLE,
            triggers={m_key: m_type for m_key, m_type in self.metric_types.items()},
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.metrics),
        )
        after_settled = pulumi.ResourceOptions(parent=self, depends_on=[*apis, *self.metrics, self.metrics_settled])
        self.alert = gcp.monitoring.AlertPolicy(
            f"{name}-error-ratio",
            project=project,
            display_name=f"{name}: answers failing",
            combiner="OR",
            conditions=[error_ratio_condition(self.metric_types["answers"])],
            notification_channels=[self.channel.id] if self.channel else [],
            documentation={
                "mime_type": "text/markdown",
                "content": (
                    f"More than {ERROR_RATIO:.0%} of the bot's answers ended with an error over {WINDOW}. "
                    'Look at the function\'s logs for `"message":"answer"` lines and their `outcome`.'
                ),
            },
            alert_strategy={"auto_close": "86400s"},
            opts=after_settled,
        )
        self.dashboard_url = pulumi.Output.all(self.dashboard.id).apply(
            lambda ids: (
                f"https://console.cloud.google.com/monitoring/dashboards/builder/{ids[0].split('/')[-1]}?project={project}"
            )
        )
        self.register_outputs({"dashboard_url": self.dashboard_url, "alert": self.alert.name})


def error_ratio_condition(answers_type: str) -> dict:
    every = f'metric.type="{answers_type}" AND resource.type="cloud_run_revision"'
    ok = ", ".join(f'"{outcome}"' for outcome in OK_OUTCOMES)
    aggregation = [{"alignment_period": WINDOW, "per_series_aligner": "ALIGN_DELTA", "cross_series_reducer": "REDUCE_SUM"}]
    return {
        "display_name": "Error ratio of answers",
        "condition_threshold": {
            "filter": f"{every} AND NOT metric.label.outcome = one_of({ok})",
            "aggregations": aggregation,
            "denominator_filter": every,
            "denominator_aggregations": aggregation,
            "comparison": "COMPARISON_GT",
            "threshold_value": ERROR_RATIO,
            "duration": "0s",
            "trigger": {"count": 1},
        },
    }


def dashboard(name: str, types: dict[str, str], prefix: str) -> dict:
    def series(metric_type: str, aligner: str, reducer: str, group_by=()) -> dict:
        return {
            "timeSeriesFilter": {
                "filter": f'metric.type="{metric_type}" resource.type="cloud_run_revision"',
                "aggregation": {
                    "alignmentPeriod": "300s",
                    "perSeriesAligner": aligner,
                    "crossSeriesReducer": reducer,
                    "groupByFields": list(group_by),
                },
            }
        }

    def chart(title: str, data_sets: list[dict], x: int, y: int) -> dict:
        return {"xPos": x, "yPos": y, "width": 6, "height": 4, "widget": {"title": title, "xyChart": {"dataSets": data_sets}}}

    ttft = types["ttft_ms"]
    tokens = [
        {
            "timeSeriesQuery": {"prometheusQuery": f"sum(increase(logging_googleapis_com:user_{prefix}_{key}_sum[1h]))"},
            "plotType": "STACKED_BAR",
            "legendTemplate": label,
        }
        for key, label in (("prompt_tokens", "in (prompt)"), ("completion_tokens", "out (completion)"))
    ]
    return {
        "displayName": f"{name}: Slack bot",
        "mosaicLayout": {
            "columns": 12,
            "tiles": [
                chart(
                    "Answers by outcome (per 5 min)",
                    [
                        {
                            "timeSeriesQuery": series(types["answers"], "ALIGN_DELTA", "REDUCE_SUM", ["metric.label.outcome"]),
                            "plotType": "STACKED_BAR",
                            "legendTemplate": "${metric.labels.outcome}",
                        }
                    ],
                    0,
                    0,
                ),
                chart(
                    "Time to first token (ms)",
                    [
                        {
                            "timeSeriesQuery": series(ttft, "ALIGN_DELTA", "REDUCE_PERCENTILE_50"),
                            "plotType": "LINE",
                            "legendTemplate": "p50",
                        },
                        {
                            "timeSeriesQuery": series(ttft, "ALIGN_DELTA", "REDUCE_PERCENTILE_95"),
                            "plotType": "LINE",
                            "legendTemplate": "p95",
                        },
                    ],
                    6,
                    0,
                ),
                chart("Tokens per hour, in and out", tokens, 0, 4),
                chart(
                    "Tokens per answer (p50)",
                    [
                        {
                            "timeSeriesQuery": series(types[key], "ALIGN_DELTA", "REDUCE_PERCENTILE_50"),
                            "plotType": "LINE",
                            "legendTemplate": key,
                        }
                        for key in ("prompt_tokens", "completion_tokens")
                    ],
                    6,
                    4,
                ),
            ],
        },
    }
