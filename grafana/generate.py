"""Generates the worker's Grafana dashboard, dashboards/llm-worker.json, from typed Python.

Run `python grafana/generate.py` after editing; `--check` fails when the committed JSON differs
(tests/repo/test_grafana_dashboard.py runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

DASHBOARD_UID = "llm-worker"
DATASOURCE_UID = "prometheus"  # grafana/provisioning/datasources/prometheus.yml
OUTPUT = Path(__file__).resolve().parent / "dashboards" / "llm-worker.json"

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Every selector carries the instance filter, so one replica can be looked at alone.
SEL = 'instance=~"$instance"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


class _Ids:
    """Stable panel ids, so links to a panel (viewPanel=N) survive regeneration."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self) -> int:
        self._next += 1
        return self._next


def _targets(queries: list[Query]) -> list[Builder[Dataquery]]:
    return [
        prometheus.Dataquery()
        .expr(q.expr)
        .legend_format(q.legend)
        .ref_id(chr(ord("A") + i))
        .datasource(DATASOURCE)
        for i, q in enumerate(queries)
    ]


def _series(
    ids: _Ids,
    title: str,
    description: str,
    queries: list[Query],
    unit: str,
    *,
    width: int = 12,
    stacked: bool = False,
    minimum: float | None = 0,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .height(8)
        .span(width)
        .fill_opacity(25 if stacked else 10)
        .line_width(1)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max", "lastNotNull"])
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if minimum is not None:
        panel = panel.min(minimum)
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    return panel


def _stat(
    ids: _Ids,
    title: str,
    description: str,
    queries: list[Query],
    unit: str,
    thresholds: list[tuple[float | None, str]],
) -> stat.Panel:
    return (
        stat.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .height(4)
        .span(4)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(
            dash.ThresholdsConfig()
            .mode(ThresholdsMode.ABSOLUTE)
            .steps([Threshold(value=value, color=color) for value, color in thresholds])
        )
    )


def _rate(metric: str, extra: str = "") -> str:
    selector = f"{SEL},{extra}" if extra else SEL
    return f"rate({metric}{{{selector}}}[$__rate_interval])"


def _quantiles(metric: str, by: str) -> list[Query]:
    return [
        Query(
            f"histogram_quantile({q}, sum by (le, {by}) ({_rate(metric)}))",
            f"p{round(q * 100)} {{{{{by}}}}}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


def build() -> dict[str, object]:
    """The dashboard as Grafana's JSON model."""
    ids = _Ids()
    decisions_rate = f"sum({_rate('refund_requests_total')})"
    fallback_rate = _rate("refund_requests_total", 'source="FALLBACK"')
    board = (
        dash.Dashboard("LLM worker")
        .uid(DASHBOARD_UID)
        .description(
            "Camunda 7 LLM decision worker: task flow, backlog, LLM latency, errors and cost, "
            "refund decisions, engine health. Alerts: docker/prometheus/alerts.yml."
        )
        .tags(["llm-worker", "camunda", "refunds"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .with_variable(
            dash.DatasourceVariable("datasource")
            .label("Data source")
            .type("prometheus")
            .current(VariableOption(selected=True, text="Prometheus", value=DATASOURCE_UID))
        )
        .with_variable(
            dash.QueryVariable("instance")
            .label("Worker")
            .description("Worker replicas (scrape targets); All for the whole fleet.")
            .datasource(DATASOURCE)
            .query("label_values(llm_worker_ready, instance)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .current(VariableOption(selected=True, text="All", value="$__all"))
        )
    )

    board = (
        board.with_row(dash.Row("At a glance").id(ids()))
        .with_panel(
            _stat(
                ids,
                "Workers ready",
                "Replicas whose /readyz is 200 (the engine answered recently), of all scraped.",
                [
                    Query(f"sum(llm_worker_ready{{{SEL}}})", "ready"),
                    Query(f"count(llm_worker_ready{{{SEL}}})", "scraped"),
                ],
                "short",
                [(None, "red"), (1, "green")],
            )
        )
        .with_panel(
            _stat(
                ids,
                "Backlog",
                "Unlocked tasks with retries left waiting in the engine, per topic.",
                [Query("max by (topic) (camunda_external_tasks_pending)", "{{topic}}")],
                "short",
                [(None, "green"), (50, "orange"), (200, "red")],
            )
        )
        .with_panel(
            _stat(
                ids,
                "Decisions / min",
                "Refund decisions made per minute, all sources.",
                [Query(f"{decisions_rate} * 60", "decisions")],
                "short",
                [(None, "blue")],
            )
        )
        .with_panel(
            _stat(
                ids,
                "Fallback share (1h)",
                "Share of the last hour's decisions that fell back to MANUAL "
                "(LLM failure or guardrail override). Alert above 20%.",
                [
                    Query(
                        f'sum(increase(refund_requests_total{{{SEL},source="FALLBACK"}}[1h])) '
                        f"/ sum(increase(refund_requests_total{{{SEL}}}[1h]))",
                        "fallback",
                    )
                ],
                "percentunit",
                [(None, "green"), (0.1, "orange"), (0.2, "red")],
            )
        )
        .with_panel(
            _stat(
                ids,
                "LLM cost (24h)",
                "Estimated LLM spend over the last 24 hours.",
                [Query(f"sum(increase(llm_worker_cost_usd_total{{{SEL}}}[24h]))", "cost")],
                "currencyUSD",
                [(None, "green"), (50, "orange"), (120, "red")],
            )
        )
        .with_panel(
            _stat(
                ids,
                "Cost per decision (1h)",
                "LLM spend divided by decisions over the last hour (rules-only decisions cost 0).",
                [
                    Query(
                        f"sum(increase(llm_worker_cost_usd_total{{{SEL}}}[1h])) "
                        f"/ sum(increase(refund_requests_total{{{SEL}}}[1h]))",
                        "per decision",
                    )
                ],
                "currencyUSD",
                [(None, "green")],
            )
        )
    )

    board = (
        board.with_row(dash.Row("Tasks").id(ids()))
        .with_panel(
            _series(
                ids,
                "Throughput by outcome",
                "External tasks handled per minute. completed: done; bpmn_error: handed to the "
                "process's error boundary (payment errors); failed: a worker bug, retried by the "
                "engine and an incident at zero retries.",
                [
                    Query(
                        f"sum by (topic, outcome) ({_rate('llm_worker_tasks_processed_total')}) "
                        "* 60",
                        "{{topic}} {{outcome}}",
                    )
                ],
                "opm",
                stacked=True,
            )
        )
        .with_panel(
            _series(
                ids,
                "Task latency p50 / p95 / p99",
                "Time from the start of handling to the engine's answer, per topic.",
                _quantiles("llm_worker_task_duration_seconds_bucket", "topic"),
                "s",
            )
        )
        .with_panel(
            _series(
                ids,
                "In flight",
                "Tasks being handled right now (at most WORKER_CONCURRENCY per replica).",
                [
                    Query(
                        f"sum by (topic) (llm_worker_tasks_in_flight{{{SEL}}})",
                        "{{topic}}",
                    )
                ],
                "short",
                stacked=True,
            )
        )
        .with_panel(
            _series(
                ids,
                "Backlog (pending in the engine)",
                "Unlocked tasks with retries left per topic, as the engine counts them: the "
                "autoscaling signal. Every replica reports the same count, hence max.",
                [Query("max by (topic) (camunda_external_tasks_pending)", "{{topic}}")],
                "short",
            )
        )
    )

    board = (
        board.with_row(dash.Row("LLM").id(ids()))
        .with_panel(
            _series(
                ids,
                "LLM latency p50 / p95 / p99",
                "Latency of one LLM call, per model (LLM_TIMEOUT_S bounds it).",
                _quantiles("llm_worker_openai_api_duration_seconds_bucket", "model"),
                "s",
            )
        )
        .with_panel(
            _series(
                ids,
                "LLM calls and errors by kind",
                "LLM calls per minute, and failed calls by kind (timeout, rate_limit, server, "
                "connection, bad_answer, ...). Failed calls send the case to MANUAL review.",
                [
                    Query(
                        f"sum by (model) ({_rate('llm_worker_openai_api_calls_total')}) * 60",
                        "calls {{model}}",
                    ),
                    Query(
                        f"sum by (model, kind) ({_rate('llm_worker_openai_api_errors_total')}) "
                        "* 60",
                        "errors {{model}} {{kind}}",
                    ),
                ],
                "opm",
            )
        )
        .with_panel(
            _series(
                ids,
                "Tokens per hour",
                "Tokens used per hour at the current rate, by model and kind.",
                [
                    Query(
                        f"sum by (model, kind) ({_rate('llm_worker_openai_tokens_total')}) * 3600",
                        "{{model}} {{kind}}",
                    )
                ],
                "short",
                stacked=True,
            )
        )
        .with_panel(
            _series(
                ids,
                "Cost per hour",
                "Estimated LLM spend per hour at the current rate, by model. Alert above "
                "5 USD/hour.",
                [
                    Query(
                        f"sum by (model) ({_rate('llm_worker_cost_usd_total')}) * 3600",
                        "{{model}}",
                    )
                ],
                "currencyUSD",
                stacked=True,
            )
        )
        .with_panel(
            _series(
                ids,
                "LLM circuit state",
                "With a fallback model: 0 closed (the model is asked), 1 open (skipped after "
                "LLM_CIRCUIT_FAILURES failing cases in a row), 2 half-open (one trial case). "
                "Worst state over the replicas.",
                [Query("max by (model) (llm_worker_llm_circuit_state)", "{{model}}")],
                "short",
            )
        )
        .with_panel(
            _series(
                ids,
                "Personal data redacted per minute",
                "Personal data replaced by a placeholder before a text went to an LLM, by kind "
                "(LLM_REDACT; counts only, never values).",
                [
                    Query(
                        f"sum by (kind) ({_rate('llm_worker_redactions_total')}) * 60",
                        "{{kind}}",
                    )
                ],
                "opm",
                stacked=True,
            )
        )
    )

    board = (
        board.with_row(dash.Row("Decisions").id(ids()))
        .with_panel(
            _series(
                ids,
                "Decisions by value and source",
                "Refund decisions per minute: ALLOWED, WITH_PENALTY or MANUAL, decided by RULES, "
                "the LLM, or the FALLBACK.",
                [
                    Query(
                        f"sum by (decision, source) ({_rate('refund_requests_total')}) * 60",
                        "{{decision}} / {{source}}",
                    )
                ],
                "opm",
                stacked=True,
            )
        )
        .with_panel(
            _series(
                ids,
                "Fallback and guardrail-override rates",
                "Share of decisions that fell back to MANUAL, and of decisions where a "
                "guardrail overrode the LLM, by reason.",
                [
                    Query(
                        f"sum({fallback_rate}) / {decisions_rate}",
                        "fallback",
                    ),
                    Query(
                        f"sum by (reason) ({_rate('llm_worker_guardrail_overrides_total')}) "
                        f"/ scalar({decisions_rate})",
                        "override: {{reason}}",
                    ),
                ],
                "percentunit",
            )
        )
    )

    board = (
        board.with_row(dash.Row("Engine").id(ids()))
        .with_panel(
            _series(
                ids,
                "Engine errors by operation",
                "Failed requests to the Camunda engine per minute (fetch_and_lock, complete, "
                "count, ...). Sustained errors make /readyz fail.",
                [
                    Query(
                        f"sum by (operation) ({_rate('llm_worker_engine_errors_total')}) * 60",
                        "{{operation}}",
                    )
                ],
                "opm",
                width=8,
            )
        )
        .with_panel(
            _series(
                ids,
                "Workers ready",
                "Replicas ready (the engine answered recently) against replicas scraped.",
                [
                    Query(f"sum(llm_worker_ready{{{SEL}}})", "ready"),
                    Query(f"count(llm_worker_ready{{{SEL}}})", "scraped"),
                ],
                "short",
                width=8,
            )
        )
        .with_panel(
            _series(
                ids,
                "Lock extensions",
                "Locks extended per minute for tasks still running near their lock's end.",
                [
                    Query(
                        f"sum by (topic) ({_rate('llm_worker_lock_extensions_total')}) * 60",
                        "{{topic}}",
                    )
                ],
                "opm",
                width=8,
            )
        )
    )
    board = board.with_row(dash.Row("Payments").id(ids())).with_panel(
        _stat(
            ids,
            "Payment gateway",
            "Replicas taking process-refund-payment, by the gateway that pays (http: the real "
            "one at PAYMENT_GATEWAY_URL; simulated: PAYMENT_SIMULATED=true, no money moves) and "
            "DEPLOYMENT_ENVIRONMENT. Alert when a simulated gateway pays in production.",
            [
                Query(
                    f"count by (gateway, environment) (llm_worker_payment_gateway_info{{{SEL}}})",
                    "{{gateway}} ({{environment}})",
                )
            ],
            "short",
            [(None, "blue")],
        )
    )
    # Audits are read from the engine's history; every replica counts the same ones, so the
    # replicas are folded with max by (verdict), never summed.
    audits_7d = f"max by (verdict) (increase(refund_audits_total{{{SEL}}}[7d]))"
    correct_7d = f'max by (verdict) (increase(refund_audits_total{{{SEL},verdict="correct"}}[7d]))'
    board = (
        board.with_row(dash.Row("Audits (production precision)").id(ids()))
        .with_panel(
            _stat(
                ids,
                "Production precision (7 d)",
                "Share of the audited automatic refunds of the last 7 days that the refund "
                "auditors found correct (decision and amount). Audits are a reproducible sample "
                "of the automatic decisions (auditRate, 5% by default).",
                [
                    Query(
                        f"sum({correct_7d}) / sum({audits_7d})",
                        "precision",
                    )
                ],
                "percentunit",
                [(None, "red"), (0.95, "orange"), (0.98, "green")],
            )
        )
        .with_panel(
            _stat(
                ids,
                "Audits completed (7 d)",
                "Audits of automatic refunds completed in the last 7 days, all verdicts.",
                [Query(f"sum({audits_7d})", "audits")],
                "short",
                [(None, "blue")],
            )
        )
        .with_panel(
            _series(
                ids,
                "Audits by verdict",
                "Audits completed per day by verdict: correct, wrong_decision (should not have "
                "been decided this way), wrong_amount (refundable, with another fee).",
                [
                    Query(
                        f"max by (verdict) (increase(refund_audits_total{{{SEL}}}[1d]))",
                        "{{verdict}}",
                    )
                ],
                "short",
                width=16,
            )
        )
    )
    model: dict[str, object] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return model


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the JSON is out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python grafana/generate.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
