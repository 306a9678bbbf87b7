"""JSON Schema 2020-12 (pydantic) to OpenAPI 3.0 (Swagger UI 4)."""

from __future__ import annotations

import copy
import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from hub.web.openapi import _to_openapi30

NULL = {"type": "null"}


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_walk(item))
    return found


# ---------------------------------------------------------------- nullable


@pytest.mark.parametrize("combinator", ["anyOf", "oneOf"])
def test_nullable_plain_type_is_flattened(combinator: str) -> None:
    node = {combinator: [{"type": "string", "maxLength": 5}, NULL], "title": "Name"}
    assert _to_openapi30(node) == {
        "type": "string",
        "maxLength": 5,
        "title": "Name",
        "nullable": True,
    }


def test_null_first_is_handled_too() -> None:
    assert _to_openapi30({"anyOf": [NULL, {"type": "integer"}]}) == {
        "type": "integer",
        "nullable": True,
    }


def test_nullable_ref_becomes_all_of() -> None:
    ref = {"$ref": "#/components/schemas/Shop"}
    node = {"anyOf": [ref, NULL], "default": None, "description": "the shop"}
    assert _to_openapi30(node) == {
        "allOf": [ref],
        "nullable": True,
        "default": None,
        "description": "the shop",
    }


def test_nullable_union_of_several_keeps_the_combinator() -> None:
    node = {"anyOf": [{"type": "string"}, {"type": "integer"}, NULL]}
    assert _to_openapi30(node) == {
        "anyOf": [{"type": "string"}, {"type": "integer"}],
        "nullable": True,
    }


def test_union_without_null_is_untouched() -> None:
    node = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert _to_openapi30(node) == node
    assert "nullable" not in _to_openapi30(node)


def test_nullable_array_keeps_items() -> None:
    node = {"anyOf": [{"type": "array", "items": {"type": "string", "format": "uuid"}}, NULL]}
    assert _to_openapi30(node) == {
        "type": "array",
        "items": {"type": "string", "format": "uuid"},
        "nullable": True,
    }


def test_nested_nodes_are_converted() -> None:
    node = {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "string"}, NULL]},
            "b": {"type": "array", "items": {"anyOf": [{"$ref": "#/x"}, NULL]}},
        },
    }
    converted = _to_openapi30(node)
    assert converted["properties"]["a"] == {"type": "string", "nullable": True}
    assert converted["properties"]["b"]["items"] == {"allOf": [{"$ref": "#/x"}], "nullable": True}


def test_input_is_not_mutated() -> None:
    node = {"anyOf": [{"type": "string"}, NULL], "examples": ["x"], "const": "c"}
    before = copy.deepcopy(node)
    _to_openapi30(node)
    assert node == before


# ---------------------------------------------------------------- const, examples


def test_const_becomes_single_enum() -> None:
    assert _to_openapi30({"const": "owner", "type": "string"}) == {
        "enum": ["owner"],
        "type": "string",
    }


def test_falsy_const_is_kept() -> None:
    assert _to_openapi30({"const": 0}) == {"enum": [0]}
    assert _to_openapi30({"const": None}) == {"enum": [None]}


def test_examples_become_the_first_example() -> None:
    assert _to_openapi30({"type": "string", "examples": ["RUB", "EUR"]}) == {
        "type": "string",
        "example": "RUB",
    }


def test_empty_examples_are_dropped() -> None:
    assert _to_openapi30({"type": "string", "examples": []}) == {"type": "string"}


def test_scalars_and_lists_pass_through() -> None:
    assert _to_openapi30("x") == "x"
    assert _to_openapi30(3) == 3
    assert _to_openapi30(None) is None
    assert _to_openapi30([{"const": 1}, 2]) == [{"enum": [1]}, 2]


# ---------------------------------------------------------------- real pydantic output


class _Child(BaseModel):
    name: str


class _Sample(BaseModel):
    kind: Literal["sale"] = "sale"
    note: str | None = None
    count: int | None = Field(default=None, ge=0)
    child: _Child | None = None
    children: list[_Child] | None = None
    code: str = Field(examples=["RUB", "EUR"])


def test_pydantic_schema_has_no_json_schema_2020_leftovers() -> None:
    schema = _to_openapi30(_Sample.model_json_schema(ref_template="#/components/schemas/{model}"))
    for node in _walk(schema):
        assert "const" not in node
        assert "examples" not in node
        assert NULL not in node.get("anyOf", [])
        assert NULL not in node.get("oneOf", [])
        assert node.get("type") != "null"
    props = schema["properties"]
    assert props["kind"]["enum"] == ["sale"]
    assert props["note"]["type"] == "string"
    assert props["note"]["nullable"] is True
    assert props["count"]["type"] == "integer"
    assert props["count"]["minimum"] == 0
    assert props["count"]["nullable"] is True
    assert props["child"]["allOf"] == [{"$ref": "#/components/schemas/_Child"}]
    assert props["child"]["nullable"] is True
    assert props["children"]["type"] == "array"
    assert props["children"]["nullable"] is True
    assert props["code"]["example"] == "RUB"
    json.dumps(schema)  # still plain JSON


def test_property_named_const_survives() -> None:
    class HasConst(BaseModel):
        const: int = 1

    schema = _to_openapi30(HasConst.model_json_schema())
    assert "const" in schema["properties"]
    assert "enum" not in schema["properties"]
