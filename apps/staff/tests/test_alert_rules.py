"""ops/prometheus/alerts.yml is a valid Prometheus rules file (promtool's checks, without promtool):
the group/rule structure, durations, labels and annotations; every expression parses as PromQL
(promql-parser, a Python binding of a Rust PromQL parser) and is not a bare range or string; and every metric
it names is one this server exposes on /metrics/prometheus."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from flylive.metrics import DJANGO_REGISTRY, REGISTRY
from tests.support.processes import repo_root

RULES = repo_root() / "ops" / "prometheus" / "alerts.yml"
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
ALERT_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TEMPLATE_VARS = re.compile(r"\{\{\s*\$(labels\.([a-z_]+)|value)\b")


def exposed_names() -> set[str]:
    names: set[str] = set()
    for registry in (REGISTRY, DJANGO_REGISTRY):
        for family in registry.collect():
            names.add(family.name)
            names.update(sample.name for sample in family.samples)
        for name in list(registry._names_to_collectors):
            names.add(name)
    return names


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(Path(RULES).read_text())
    assert set(document) == {"groups"}
    found = []
    group_names = [group["name"] for group in document["groups"]]
    assert len(group_names) == len(set(group_names)), "group names are unique"
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules"}
        assert group["rules"]
        found.extend(group["rules"])
    return found


def selectors(expr: promql_parser.Expr) -> list[str]:
    names: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.append(node.name)

    promql_parser.walk(expr, visit)
    return names


def test_rules_file_is_well_formed() -> None:
    alerts = rules()
    names = [rule["alert"] for rule in alerts]
    assert len(names) == len(set(names))
    for rule in alerts:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, rule
        assert ALERT_NAME.match(rule["alert"])
        if "for" in rule:
            assert DURATION.match(rule["for"]), rule["for"]
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert {"summary", "description"} <= set(rule["annotations"])
        for text in rule["annotations"].values():
            assert text.count("{{") == text.count("}}")


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_expression_is_promql_on_our_metrics(rule: dict[str, Any]) -> None:
    expr = promql_parser.parse(rule["expr"])
    # An alert needs an instant vector: never a bare range or string.
    assert not isinstance(expr, promql_parser.MatrixSelector | promql_parser.StringLiteral)
    used = selectors(expr)
    assert used, "an alert watches at least one series"
    unknown = set(used) - exposed_names()
    assert not unknown, f"{rule['alert']} names series this server does not expose: {unknown}"
    # A label used in a template must survive the expression's aggregation.
    for _, label in (m.groups()[:2] for m in TEMPLATE_VARS.finditer(" ".join(rule["annotations"].values()))):
        if label and label.startswith("labels."):
            assert label.split(".", 1)[1] in rule["expr"], f"{label} is aggregated away in {rule['alert']}"


def test_a_broken_expression_is_caught() -> None:
    with pytest.raises(ValueError, match="unclosed left parenthesis"):
        promql_parser.parse("sum(rate(flylive_gift_buffer_size[5m])")
