"""Templates: parsing, typed substitution, and errors that name the missing part."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainmine.library.errors import TemplateError
from chainmine.library.templates import (LITERAL_BRACES, escape_literal, escape_text, format_path, iter_references, lookup,
                               malformed_templates, needs_resolving, parse_path, parse_reference, resolve)

SCOPE = {
    "user_id": "mia_li_3668",
    "n": 3,
    "get_user": {"name": "Mia", "reservations": ["R1", "R2"], "orders": [{"order_no": 7, "items": [1, 2]}]},
    "raw": '{"id": 42, "tags": ["a"]}',
    "item": {"id": "R1"},
}


@pytest.mark.parametrize("template, expected", [
    ("{{user_id}}", "mia_li_3668"),
    ("{{n}}", 3),
    ("{{get_user.reservations}}", ["R1", "R2"]),
    ("{{get_user.reservations[1]}}", "R2"),
    ("{{get_user.reservations[-1]}}", "R2"),
    ("{{get_user.orders[0].order_no}}", 7),
    ("{{ get_user.orders[0].items[1] }}", 2),
    ("{{raw.id}}", 42),
    ("{{raw.tags[0]}}", "a"),
    ("{{item.id}}", "R1"),
    ("user {{user_id}} has {{n}} trips", "user mia_li_3668 has 3 trips"),
    ("list={{get_user.reservations}}", 'list=["R1", "R2"]'),
    ("plain text", "plain text"),
])
def test_resolve_keeps_type_for_whole_templates_and_formats_inside_text(template, expected):
    assert resolve(template, SCOPE) == expected


def test_resolve_walks_nested_parameters():
    params = {"a": ["{{n}}", {"b": "{{get_user.name}}"}], "c": 5, "d": None}
    assert resolve(params, SCOPE) == {"a": [3, {"b": "Mia"}], "c": 5, "d": None}


@pytest.mark.parametrize("template, message", [
    ("{{nope}}", "unknown name 'nope'"),
    ("{{get_user.missing}}", "no field 'missing'"),
    ("{{get_user.reservations[5]}}", "index out of range"),
    ("{{get_user.name[0]}}", "expected a list"),
    ("{{n.x}}", "expected an object"),
])
def test_missing_values_raise_a_clear_error_naming_the_path(template, message):
    with pytest.raises(TemplateError, match=message) as info:
        resolve({"p": template}, SCOPE, where="step get_res")
    assert "step get_res" in str(info.value)


def test_reference_parsing_round_trips():
    ref = parse_reference("{{get_user.orders[0].order_no}}")
    assert ref.root == "get_user" and ref.path == ("orders", 0, "order_no")
    assert str(ref) == "{{get_user.orders[0].order_no}}"
    assert parse_path(format_path(ref.path)) == ref.path


@pytest.mark.parametrize("text", ["{{1abc}}", "{{a..b}}", "{{a b}}", "{{}}", "no template"])
def test_parse_reference_rejects_malformed_text(text):
    with pytest.raises(TemplateError):
        parse_reference(text)


def test_iter_references_and_malformed_detection():
    refs = [str(r) for r in iter_references({"x": "{{a}} and {{b.c[2]}}", "y": ["{{d}}"]})]
    assert refs == ["{{a}}", "{{b.c[2]}}", "{{d}}"]
    assert malformed_templates("{{ok}} {{not ok}} {{9}}") == ["{{not ok}}", "{{9}}"]


def test_lookup_parses_json_text_on_the_way():
    assert lookup('[{"a": 1}]', (0, "a")) == 1
    assert lookup({"0": "zero"}, ("0",)) == "zero"


# --- literal braces ----------------------------------------------------------------------------------

@pytest.mark.parametrize("template, expected", [
    ("{{'{{'}}name}}", "{{name}}"),
    ('{{"{{"}}name}}', "{{name}}"),
    ("{{ '{{' }}x", "{{x"),
    ("{{'{{'}}", "{{"),
    ("{{'{{'}}user_id}} = {{user_id}}", "{{user_id}} = mia_li_3668"),
    ("{{'{{'}}{{n}}}}", "{{3}}"),
    ("}} alone", "}} alone"),
])
def test_an_escaped_brace_pair_resolves_to_literal_text(template, expected):
    assert resolve(template, SCOPE) == expected
    assert malformed_templates(template) == []


def test_text_substituted_for_a_template_is_never_unescaped():
    assert resolve("x {{v}}", {"v": LITERAL_BRACES}) == "x " + LITERAL_BRACES
    assert resolve("{{v}}", {"v": LITERAL_BRACES}) == LITERAL_BRACES


@pytest.mark.parametrize("text, refs, bad", [
    ("Hi {{'{{'}}name}}, order {{order.id}}", ["{{order.id}}"], []),
    ("Hi {{'{{'}}name}} {{ not ok }}", [], ["{{ not ok }}"]),
    ("{{'{{' }} and {{'{'}}", [], ["{{'{'}}"]),
])
def test_escapes_are_neither_references_nor_malformed(text, refs, bad):
    assert [str(r) for r in iter_references(text)] == refs
    assert malformed_templates(text) == bad


@given(st.text(alphabet="{}'\" a.\n", max_size=40) | st.text(max_size=40))
def test_any_logged_text_round_trips_through_escaping(text):
    escaped = escape_text(text)
    assert resolve(escaped, {}) == text
    assert malformed_templates(escaped) == [] and list(iter_references(escaped)) == []


@pytest.mark.parametrize("value, expected", [
    ({"body": "Hi {{name}}", "n": 2}, {"body": "Hi " + LITERAL_BRACES + "name}}", "n": 2}),
    (["{{a}}", {"b": ["{{c}}"]}], [LITERAL_BRACES + "a}}", {"b": [LITERAL_BRACES + "c}}"]}]),
    ({"{{key}}": "plain"}, {"{{key}}": "plain"}),
    (5, 5),
])
def test_escape_literal_walks_values_not_keys(value, expected):
    assert escape_literal(value) == expected
    assert resolve(expected, {}) == value


@pytest.mark.parametrize("value, expected", [
    ({"a": "{{x}}"}, True), ({"a": [LITERAL_BRACES]}, True), ({"a": "{{ 1bad }}", "b": "{"}, False), ("plain", False),
])
def test_needs_resolving(value, expected):
    assert needs_resolving(value) is expected
