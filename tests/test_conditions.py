"""Step conditions are parsed by a small safe grammar and never executed as code."""

from __future__ import annotations

import pytest

from chainmine.library.conditions import SKIPPED, parse_condition
from chainmine.library.errors import ConditionError

SCOPE = {"check": {"ok": False, "code": 404}, "n": 5, "tags": ["vip", "eu"], "name": "mia", "prev": SKIPPED}


@pytest.mark.parametrize("text, expected", [
    ("{{check.ok}} == false and {{n}} > 3", True),
    ("{{check.ok}} == true or {{n}} < 3", False),
    ("not {{check.ok}}", True),
    ("{{check.code}} in [404, 410]", True),
    ("'vip' in {{tags}}", True),
    ("'gold' not in {{tags}}", True),
    ("{{name}} == \"mia\"", True),
    ("1 < {{n}} <= 5", True),
    ("{{n}} != -1", True),
    ("{{prev}} is skipped", True),
    ("{{check}} is not skipped", True),
    ("{{prev.anything}} is skipped", True),
    ("{{check.missing_ok}} == null", None),
    ("{{name}} != 'Hi {{\"{{\"}}name}}'", True),
    ("'{{\"{{\"}}x}}' == \"{{'{{'}}x}}\"", True),
])
def test_conditions_evaluate(text, expected):
    cond = parse_condition(text)
    if expected is None:
        with pytest.raises(ConditionError, match="no field"):
            cond.evaluate(SCOPE)
    else:
        assert cond.evaluate(SCOPE) is expected


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo hacked')",
    "{{n}}.__class__",
    "open('/etc/passwd')",
    "{{n}} + 1 > 2",
    "[x for x in {{tags}}]",
    "lambda: 1",
    "{{n}} > ",
    "",
    "unknown_word == 1",
    "{{bad ref}} == 1",
    "{{'{{'}} == 1",
    "{{n}} == '{{ stray'",
    "{{n}} == '\ue000'",
])
def test_unsafe_or_malformed_conditions_are_refused(text):
    with pytest.raises(ConditionError):
        parse_condition(text)


def test_references_are_reported_for_validation():
    cond = parse_condition("{{a.b}} == 1 and {{c}} in {{d[0]}}")
    assert [r.root for r in cond.references] == ["a", "c", "d"]


def test_type_mismatch_is_a_condition_error():
    with pytest.raises(ConditionError, match="different types"):
        parse_condition("{{name}} > 3").evaluate(SCOPE)


BIG = {"n": 100000, "flag": True, "none": None, "zero": 0, "prev": SKIPPED}


@pytest.mark.parametrize("text, expected", [
    ("{{none}} is null", True),
    ("{{none}} is None", True),
    ("{{zero}} is null", False),
    ("{{zero}} is not none", True),
    ("{{flag}} is true", True),
    ("{{flag}} is True", True),
    ("{{zero}} is false", False),
    ("null is {{none}}", True),
    ("{{prev}} is skipped", True),
    ("{{n}} == 100000", True),
])
def test_is_tests_for_null_booleans_and_skipped(text, expected):
    assert parse_condition(text).evaluate(BIG) is expected


@pytest.mark.parametrize("text, hint", [
    ("{{n}} is 100000", "use =="),
    ("{{n}} is not 100000", "use !="),
    ("{{n}} is {{zero}}", "use =="),
    ("{{n}} is 'x'", "use =="),
    ("{{n}} is [1]", "use =="),
    ("{{none}} is null and {{n}} is 5", "use =="),
    ("{{n}} is not {{n}}", "use !="),
])
def test_is_with_any_other_operand_is_refused_with_a_hint(text, hint):
    with pytest.raises(ConditionError, match="only tests for null, true, false or skipped") as info:
        parse_condition(text)
    assert hint in str(info.value)


def test_validation_reports_an_identity_test_on_a_number():
    from chainmine.library.model import WorkflowStep, WorkflowTemplate
    from chainmine.library.validate import workflow_problems

    wf = WorkflowTemplate(name="w", inputs={"n": {}}, steps=[WorkflowStep(id="a", tool_name="t", condition="{{n}} is 100000")])
    (problem,) = workflow_problems(wf)
    assert problem.startswith("steps[0].condition:") and "use ==" in problem
