"""The policy's conditions run as one CEL program first; the failures are still named one by one."""

from __future__ import annotations

import time

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


def _count_runs(policy: Any) -> list[Any]:
    """The contexts the policy's combined CEL program runs over from now on."""
    runs: list[Any] = []
    real = policy.rule.combined

    class Counting:
        def execute(self, context: Any) -> Any:
            runs.append(context)
            return real.execute(context)

    object.__setattr__(policy.rule, "combined", Counting())
    return runs


def test_a_passing_context_is_remembered_by_its_exact_values() -> None:
    policy = _policy(["pid.age >= 65", "pid.city == params.city"])
    runs = _count_runs(policy)
    assert _failed(policy, {"age": 70, "city": "Shenzhen"}) == ()
    assert _failed(policy, {"age": 70, "city": "Shenzhen"}) == ()
    assert len(runs) == 1
    # Other values, or the same values with other types, run the program again.
    assert _failed(policy, {"age": 70.0, "city": "Shenzhen"}) == ()
    assert _failed(policy, {"age": 30, "city": "Shenzhen"}) == ("c0",)
    assert _failed(policy, {"age": 30, "city": "Shenzhen"}) == ("c0",)  # Refusals are not remembered.
    assert len(runs) == 4
    # True is not 1 (CEL keeps bool and int apart; Python's == and hash do not).
    flag = _policy(["pid.age == 1", "pid.city == params.city"])
    assert _failed(flag, {"age": 1, "city": "Shenzhen"}) == ()
    assert _failed(flag, {"age": True, "city": "Shenzhen"}) == ("c0",)
    # Parameters are part of the key: a policy with another city shares the rule, not the answer.
    other = flag.with_params({"city": "Beijing"})
    assert other.rule is flag.rule
    assert _failed(other, {"age": 1, "city": "Shenzhen"}) == ("c1",)


@pytest.mark.parametrize("a, b", [
    ({"x": 1}, {"x": True}), ({"x": 0.0}, {"x": -0.0}), ({"x": 1}, {"x": 1.0}), ({"x": [1]}, {"x": [[1]]}),
    ({"x": [], "y": 1}, {"x": [1]}), ({"x": ["y", 1]}, {"x": {"y": 1}}), ({"x": 1, "y": 2}, {"y": 2, "x": 1}),
    ({"x": None}, {"x": "None"}), ({"x": "1"}, {"x": 1}),
])
def test_context_keys_tell_apart_what_cel_tells_apart(a: dict[str, Any], b: dict[str, Any]) -> None:
    from verifier.policy import _context_key

    assert _context_key(a) is not None and _context_key(a) != _context_key(b)
    assert _context_key(a) == _context_key(dict(a))


def test_values_that_are_not_plain_json_are_not_remembered() -> None:
    from verifier.policy import _context_key

    assert _context_key({"x": (1,)}) is None
    assert _context_key({"x": {1: 2}}) is None
    assert _context_key({"x": b"1"}) is None


def test_remembered_passes_are_forgotten_after_the_retention_time(make_app: Any, monkeypatch: Any) -> None:
    """They are claim values: kept no longer than the decisions that used them (RESULT_RETENTION)."""
    import verifier.policy as policy_module
    from verifier.policy import _PassMemory

    now = [1000.0]
    key = ("city", str, "Shenzhen")
    for added_at in (0.0, 3.0, 20.0, 27.0, 40.0, 54.0, 71.0):
        # ttl 60, the sweeper ages every memory every 5 s: whenever a key is added, it is gone within 60 s.
        now[0] = 1000.0
        memory = _PassMemory(ttl=60, clock=lambda: now[0])
        tick = 1000.0
        while tick + 5 <= 1000.0 + added_at:
            tick += 5
            now[0] = tick
            memory.age()
        now[0] = 1000.0 + added_at
        memory.add(key)
        gone = None
        while gone is None:
            tick += policy_module._SWEEP_EVERY
            now[0] = tick
            memory.age()
            if key not in memory._current and key not in memory._previous:
                gone = tick - (1000.0 + added_at)
        assert 27.5 - policy_module._SWEEP_EVERY <= gone <= 60, (added_at, gone)

    # A policy's memory in use: the CEL program runs again once the values are forgotten.
    policy = _policy(["pid.age >= 65", "pid.city == params.city"])
    now[0] = 5000.0
    object.__setattr__(policy.rule, "_passed", _PassMemory(ttl=60, clock=lambda: now[0]))
    runs = _count_runs(policy)
    assert _failed(policy, {"age": 70, "city": "Shenzhen"}) == () and len(runs) == 1
    assert _failed(policy, {"age": 70, "city": "Shenzhen"}) == () and len(runs) == 1
    now[0] += 61
    assert _failed(policy, {"age": 70, "city": "Shenzhen"}) == () and len(runs) == 2

    # Nobody asks again: the sweeper thread forgets anyway.
    monkeypatch.setattr(policy_module, "_SWEEP_EVERY", 0.05)
    monkeypatch.setattr(policy_module, "_sweeper_pid", 0)
    idle = _PassMemory(ttl=0.2)
    idle.add(key)
    assert len(idle._current) == 1
    deadline = time.monotonic() + 5
    while (idle._current or idle._previous) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not idle._current and not idle._previous

    # The service sets every policy's memory to its own retention time (never above the default).
    app = make_app(RESULT_RETENTION=30)
    assert {p.rule._passed.ttl for p in app.extensions["civicid_verifier"].policies} == {30}
    assert {p.rule._passed.ttl for p in make_app(RESULT_RETENTION=3600).extensions["civicid_verifier"].policies} == {300}
