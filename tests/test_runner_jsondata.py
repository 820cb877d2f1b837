"""Tool results become JSON data: common Python values converted faithfully, anything else a clear step error."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import uuid
from decimal import Decimal

import pytest
from pydantic import BaseModel

from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner import ToolGuards, run_workflow
from chainmine.library.runner.errors import ResultNotJSONError
from chainmine.library.runner.jsondata import normalise_result

UTC = datetime.timezone.utc


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Seat:
    row: int
    letters: tuple
    booked: datetime.date


class Booking(BaseModel):
    ref: str
    seats: list[int]
    at: datetime.datetime


class Widget:
    pass


def _cycle():
    items: list = [1]
    items.append(items)
    return {"items": items}


@pytest.mark.parametrize("value, expected, kinds", [
    ({"at": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}, {"at": "2026-01-02T03:04:05+00:00"}, ["datetime"]),
    ([datetime.date(2026, 1, 2), datetime.time(9, 30)], ["2026-01-02", "09:30:00"], ["date", "time"]),
    ({"total": Decimal("12.50"), "n": Decimal("3"), "big": Decimal("123456789012345678901234567890")},
     {"total": 12.5, "n": 3, "big": 123456789012345678901234567890}, ["Decimal"]),
    ({"pair": (1, (2, "x"))}, {"pair": [1, [2, "x"]]}, []),
    ({"tags": {"b", "a"}, "ids": frozenset({3, 1})}, {"tags": ["a", "b"], "ids": [1, 3]}, ["set", "frozenset"]),
    ([Seat(4, ("A", "B"), datetime.date(2026, 3, 1))], [{"row": 4, "letters": ["A", "B"], "booked": "2026-03-01"}],
     ["Seat", "date"]),
    ({"b": Booking(ref="B1", seats=[1, 2], at=datetime.datetime(2026, 1, 2, tzinfo=UTC))},
     {"b": {"ref": "B1", "seats": [1, 2], "at": "2026-01-02T00:00:00Z"}}, ["Booking"]),
    ({"c": Colour.RED, "l": Level.HIGH}, {"c": "red", "l": 3}, ["Colour", "Level"]),
    ({"id": uuid.UUID(int=1), "raw": b"hi"}, {"id": "00000000-0000-0000-0000-000000000001", "raw": "hi"},
     ["UUID", "bytes"]),
    ({1: "a", None: "b", False: "c", 2.5: {"d"}}, {"1": "a", "null": "b", "false": "c", "2.5": ["d"]}, ["set"]),
])
def test_common_values_are_converted_faithfully_with_a_note(value, expected, kinds):
    got, notes = normalise_result(value, tool="t")
    assert got == expected
    assert list(notes) == [f"converted {k} to JSON" for k in kinds]


@pytest.mark.parametrize("value, what, where", [
    (Widget(), "returned a Widget,", None),
    ({"rows": [1, Widget()]}, "returned a Widget (at rows[1])", "rows[1]"),
    ({"gen": (i for i in range(3))}, "returned a generator (at gen)", "gen"),
    ({"f": print}, "returned a builtin_function_or_method (at f)", "f"),
    ({"cls": Seat}, "returned the class Seat (at cls)", "cls"),
    ({"raw": b"\xff\xfe"}, "returned bytes that are not UTF-8 text (at raw)", "raw"),
    ({"d": Decimal("NaN")}, "returned Decimal('NaN'), beyond what a JSON number holds (at d)", "d"),
    ({"d": Decimal("-Infinity")}, "beyond what a JSON number holds (at d)", "d"),
    ({"when": datetime.date(2026, 1, 1), "x": float("inf")}, "returned the number inf (at x)", "x"),
    ({"s": {1}, "loop": _cycle()["items"]}, "returned a structure that contains itself (at loop[1])", None),
    ({(1, 2): "v", "s": {1}}, "returned a dict key of type tuple", None),
])
def test_anything_else_fails_naming_the_tool_the_type_and_the_place(value, what, where):
    with pytest.raises(ResultNotJSONError) as info:
        normalise_result(value, tool="report")
    message = str(info.value)
    assert message.startswith("tool 'report' ") and what in message
    assert where is None or f"(at {where})" in message
    assert "which is not JSON data: return a dict, list, str, number, bool or None" in message


@pytest.mark.parametrize("value, fragment", [
    (float("nan"), "returned nan, which is not a JSON number"),
    ({"x": float("nan")}, "cannot be written as JSON"),
    (_cycle(), "cannot be written as JSON"),
])
def test_values_plain_json_cannot_hold_fail_too(value, fragment):
    with pytest.raises(ResultNotJSONError, match=fragment):
        normalise_result(value, tool="report")


def _run(tool, retries=0):
    wf = WorkflowTemplate.from_dict({"name": "w", "status": "accepted", "steps": [
        {"id": "s", "tool_name": "report", "max_retries": retries}]})
    return run_workflow(wf, {}, tools={"report": tool}, guards=ToolGuards())


def test_a_step_returning_an_object_fails_clearly_and_is_not_retried():
    result = _run(lambda: {"rows": [Widget()]}, retries=2)
    assert result.status == "failed"
    step = result.steps["s"]
    assert step.attempts == 1
    assert "tool 'report' returned a Widget (at rows[0]), which is not JSON data" in step.error


def test_a_step_returning_common_types_completes_with_json_data_and_notes():
    result = _run(lambda: {"at": datetime.date(2026, 1, 2), "total": Decimal("9.99"), "pair": (1, 2)})
    assert result.status == "completed"
    assert result.outputs == {"s": {"at": "2026-01-02", "total": 9.99, "pair": [1, 2]}}
    assert result.steps["s"].details["notes"] == ["converted date to JSON", "converted Decimal to JSON"]
