"""The policy's conditions run as one CEL program first; the failures are still named one by one."""

from __future__ import annotations

from typing import Any

import pytest

from verifier.errors import PolicyNotSatisfied
from verifier.policy import AllOf, Condition, Policy


def _policy(rules: list[str]) -> Policy:
    return Policy.parse({
        "id": "test-rules",
        "title": {"en": "Test", "zh-CN": "测试"},
        "purpose": {"en": "testing", "zh-CN": "测试"},
        "credentials": [{"id": "pid", "vct_values": ["urn:t"], "claims": [["age"], ["city"]]}],
        "max_credential_age": 3600,
        "params": {"city": "Shenzhen"},
        "conditions": [{"id": f"c{i}", "rule": rule} for i, rule in enumerate(rules)],
    })


def _failed(policy: Policy, claims: dict[str, Any]) -> tuple[str, ...]:
    try:
        policy.evaluate({"pid": claims})
    except PolicyNotSatisfied as exc:
        return exc.conditions
    return ()


@pytest.mark.parametrize("rules, claims, failed", [
    (["pid.age >= 65", "pid.city == params.city"], {"age": 70, "city": "Shenzhen"}, ()),
    (["pid.age >= 65", "pid.city == params.city"], {"age": 30, "city": "Shenzhen"}, ("c0",)),
    (["pid.age >= 65", "pid.city == params.city"], {"age": 30, "city": "Beijing"}, ("c0", "c1")),
    # A type error in one rule (string compared with an int) fails that rule only.
    (["pid.age >= 65", "pid.city == params.city"], {"age": "70", "city": "Shenzhen"}, ("c0",)),
    # A rule yielding a non-boolean is not met, even when the others hold.
    (["pid.age", "pid.city == params.city"], {"age": 70, "city": "Shenzhen"}, ("c0",)),
    # A trailing line comment must not swallow the next rule when the rules are joined.
    (["pid.age >= 65 // seniors", "pid.city == 'Nowhere'"], {"age": 70, "city": "Shenzhen"}, ("c1",)),
    (["pid.age >= 65 // seniors", "pid.city == params.city"], {"age": 70, "city": "Shenzhen"}, ()),
    (["pid.age >= 65", "pid.city == params.city", "pid.age < 120"], {"age": 130, "city": "Shenzhen"}, ("c2",)),
])
def test_failures_are_named_as_when_run_one_by_one(rules: list[str], claims: dict[str, Any], failed: tuple[str, ...]) -> None:
    policy = _policy(rules)
    assert policy.rule.combined is not None
    assert _failed(policy, claims) == failed
    # The shortcut never changes the answer: the same rules without it.
    one_by_one = AllOf(policy.rule.conditions)
    object.__setattr__(one_by_one, "combined", None)
    context = {"params": {"city": "Shenzhen"}, "pid": claims}
    assert tuple(c.id for c in one_by_one.failed(context)) == failed


def test_a_single_condition_needs_no_combined_program() -> None:
    rule = AllOf((Condition.parse({"id": "only", "rule": "pid.age >= 18"}, "test"),))
    assert rule.combined is None
    assert rule.failed({"pid": {"age": 20}}) == ()
    assert [c.id for c in rule.failed({"pid": {"age": 10}})] == ["only"]
