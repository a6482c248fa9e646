"""The segment rule language: typed and validated, the same from the YAML and from the API.

A rule is a condition or a group of rules:

    {attribute: plan, op: eq, value: pro}        one of the recipient's own attributes
    {field: locale, op: in, value: [fr, de]}     a profile field: locale, timezone, created_at, updated_at
    {all: [rule, ...]}   {any: [rule, ...]}      groups nest, at most MAX_DEPTH deep

This module says how rules are put together and bounded; `segment_values` what each op accepts;
`segment_sql` how a database evaluates them. Rules keep their values as written, so they read
back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import InvalidRequest
from .segment_values import (
    ATTRIBUTE_OPS,
    FIELD_OPS,
    Op,
    ProfileField,
    Value,
    attribute_value,
    field_value,
    op_among,
)

MAX_CONDITIONS = 100
MAX_DEPTH = 5  # groups within groups, the outermost counting as one
NAME_PATTERN = r"^[^\x00]*$"  # a segment's display name: anything PostgreSQL can store

_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllOf(_Rule):
    """Every rule holds; an empty list holds for everyone."""

    all: tuple[Rule, ...]


class AnyOf(_Rule):
    """At least one rule holds."""

    any: tuple[Rule, ...]

    @field_validator("any")
    @classmethod
    def _not_empty(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        if not rules:
            raise ValueError("an `any` group needs at least one rule (it would match nobody)")
        return rules


class AttributeCondition(_Rule):
    attribute: str
    op: Op
    value: Value = Field(None, validate_default=True)

    @field_validator("attribute", mode="plain")
    @classmethod
    def _name(cls, name: Any) -> str:
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.match(name):
            raise ValueError("an attribute name is 1-64 letters, digits, _ or -, starting with a letter or _")
        return name

    @field_validator("op", mode="before")
    @classmethod
    def _op(cls, op: Any) -> Op:
        return op_among(op, ATTRIBUTE_OPS, "attributes")

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, value: Any, info: ValidationInfo) -> Value:
        op = info.data.get("op")
        if op is None:
            return None  # the op is wrong, and reported; its value cannot be judged
        return attribute_value(op, value)


class FieldCondition(_Rule):
    field: ProfileField
    op: Op
    value: Value = Field(None, validate_default=True)

    @field_validator("op", mode="before")
    @classmethod
    def _op(cls, op: Any, info: ValidationInfo) -> Op:
        field = info.data.get("field")
        if field is None:
            return Op.EQ  # the field is wrong, and reported; any op would do
        return op_among(op, FIELD_OPS[field], str(field))

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, value: Any, info: ValidationInfo) -> Value:
        field, op = info.data.get("field"), info.data.get("op")
        if field is None or op is None:
            return None
        return field_value(field, op, value)


def _rule_kind(raw: Any) -> str | None:
    for kind, model in _KINDS.items():
        if isinstance(raw, model):
            return kind
    if isinstance(raw, dict):
        for key, kind in _KEYS:
            if key in raw:
                return kind
    return None


# Tags are spelled unlike any key of a rule, so a path through the data skips them (see `field_path`).
_KINDS: dict[str, type[_Rule]] = {
    "all-group": AllOf,
    "any-group": AnyOf,
    "attribute-condition": AttributeCondition,
    "field-condition": FieldCondition,
}
_KEYS = (
    ("all", "all-group"),
    ("any", "any-group"),
    ("attribute", "attribute-condition"),
    ("field", "field-condition"),
)

Rule = Annotated[
    Annotated[AllOf, Tag("all-group")]
    | Annotated[AnyOf, Tag("any-group")]
    | Annotated[AttributeCondition, Tag("attribute-condition")]
    | Annotated[FieldCondition, Tag("field-condition")],
    Discriminator(
        _rule_kind,
        custom_error_type="rule_shape",
        custom_error_message="expected a condition {attribute|field, op, value} or a group {all: [...]} "
        "or {any: [...]}",
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()


class Rules(RootModel[Rule]):
    """A segment's rules: one rule, usually a group. Compile with `segment_sql.matches`."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _shallow_enough(cls, raw: Any) -> Any:
        # Measured before validating, so a hostile nesting never reaches the recursive validator.
        depth = _depth(raw)
        if depth > MAX_DEPTH:
            raise ValueError(f"groups nest {depth} deep; at most {MAX_DEPTH} levels are allowed")
        return raw

    @model_validator(mode="after")
    def _small_enough(self) -> Rules:
        count = sum(1 for _ in conditions(self.root))
        if count > MAX_CONDITIONS:
            raise ValueError(f"{count} conditions; a segment may have at most {MAX_CONDITIONS}")
        return self

    def to_json(self) -> dict[str, Any]:
        """The rules as JSON, as written (YAML dates become ISO text)."""
        return self.model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]


def conditions(rule: Rule) -> Iterator[AttributeCondition | FieldCondition]:
    """Every condition of a rule, depth first."""
    if isinstance(rule, AllOf | AnyOf):
        for inner in rule.all if isinstance(rule, AllOf) else rule.any:
            yield from conditions(inner)
    else:
        yield rule


def _depth(raw: Any) -> int:
    """How many groups deep `raw` nests, stopping as soon as it is too deep."""
    deepest, stack = 0, [(raw, 1)]
    while stack and deepest <= MAX_DEPTH:
        node, level = stack.pop()
        if not isinstance(node, dict):
            continue
        for key in ("all", "any"):
            if isinstance(node.get(key), list | tuple):
                deepest = max(deepest, level)
                stack.extend((inner, level + 1) for inner in node[key])
    return deepest


class InvalidRules(InvalidRequest):
    """Rules that do not validate; `problems` holds (field path, message) for every mistake."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(*problems[0])
        self.problems = problems


def parse_rules(raw: Any, *, at: str = "rules") -> Rules:
    """Validate rules from an API body or the database; raises InvalidRules naming each field."""
    try:
        return Rules.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRules([(field_path(at, item["loc"]), _message(item)) for item in exc.errors()]) from None


def field_path(at: str, loc: tuple[int | str, ...]) -> str:
    """("all-group", "all", 0, "attribute-condition", "op") -> "rules.all.0.op"."""
    return ".".join([at, *(str(part) for part in loc if part not in _KINDS)]).strip(".")


def _message(item: Any) -> str:
    if item["type"] == "extra_forbidden":
        return "unknown key; a condition has `attribute` or `field`, `op` and `value`; a group `all` or `any`"
    if item["type"] == "missing":
        return "required"
    return str(item["msg"]).removeprefix("Value error, ")


class SegmentDefinition(BaseModel):
    """A segment as the YAML declares it: `segments: {key: {name, rules}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(max_length=200, pattern=NAME_PATTERN)] = ""
    rules: Rules
