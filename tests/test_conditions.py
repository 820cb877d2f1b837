"""Step conditions are parsed by a small safe grammar and never executed as code."""

from __future__ import annotations

import pytest

from library.conditions import SKIPPED, parse_condition
from library.errors import ConditionError

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
