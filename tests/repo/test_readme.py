"""README.md is the front door: the first screen says what to run, and what a user needs to run
and operate the worker (settings, metrics, commands, alerts) is documented in the repository,
true to the code, with no link that leaves it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from llm_worker import metrics
from llm_worker.cli import build_parser
from llm_worker.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, ROOT / "k8s" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def readme() -> str:
    return README.read_text(encoding="utf-8")


def section(title: str) -> str:
    text = readme()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_first_screen_says_what_it_is_and_what_to_run() -> None:
    first_screen = "\n".join(readme().splitlines()[:45])
    assert "Camunda 7" in first_screen and "refund" in first_screen
    for command in (
        "docker compose up",
        "make test",
        "make demo",
        "llm-worker decide examples/case.json",
    ):
        assert command in first_screen, command


def test_the_decide_example_is_what_decide_prints() -> None:
    from llm_worker.commands.decide import plain_outputs, to_variables
    from llm_worker.config import load_settings
    from llm_worker.handlers.fare_rules import build_decider, output_variables

    shown = re.search(r"```json\n(\{.*?\})\n```", readme(), re.DOTALL)
    assert shown is not None

    case = json.loads((ROOT / "examples" / "case.json").read_text(encoding="utf-8"))
    verdict = build_decider(load_settings()).decide(to_variables(case), deadline=float("inf"))
    assert plain_outputs(output_variables(verdict)) == json.loads(shown[1])


def test_every_setting_has_a_row_in_the_settings_table() -> None:
    rows = [line for line in section("Settings").splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    missing = {name.upper() for name in Settings.model_fields} - named
    assert not missing, f"settings without a README row: {sorted(missing)}"
    unknown = named - {name.upper() for name in Settings.model_fields}
    assert not unknown, f"README rows for settings the code does not have: {sorted(unknown)}"


def test_every_metric_is_documented() -> None:
    names = {
        value._name
        for value in vars(metrics).values()
        if isinstance(value, Counter | Gauge | Histogram)
    }
    assert len(names) >= 15
    for name in names:  # a counter's registered name lacks its `_total`
        assert re.search(rf"`{re.escape(name)}(_total)?`", section("Observability")), name


def test_every_command_is_documented() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    for command in commands.choices:  # type: ignore[union-attr]
        assert f"`llm-worker {command}" in section("Running the worker"), command


def test_every_alert_is_named() -> None:
    alerts = yaml.safe_load((ROOT / "docker" / "prometheus" / "alerts.yml").read_text())
    names = [rule["alert"] for group in alerts["groups"] for rule in group["rules"]]
    for name in names:
        assert f"`{name}`" in section("Observability"), name


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_in_the_repository_and_lead_somewhere(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert "../shared" not in re.sub(r"`[^`]*`", "", text), "a link to the team's files"
    for target in re.findall(r"\]\(([^)]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s) addresses of the local stack
        path = target.split("#", 1)[0]
        if not path:
            continue
        resolved = (doc.parent / path).resolve()
        assert resolved.is_relative_to(ROOT), f"{target} leaves the repository"
        assert resolved.exists(), f"{target} does not exist"
