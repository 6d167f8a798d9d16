"""A matter's form as JSON Schema (draft 2020-12) plus UI hints, and the server's check of
the values filled in.

The schema uses three custom formats, ``cn-resident-id``, ``cn-uscc`` and ``cn-mobile``
(:mod:`.validators`), and one custom keyword, ``x-notFuture`` (a date after today). Errors
come back per field as the codes the pages explain: ``required``, ``invalid_id_number``,
``invalid_uscc``, ``invalid_mobile``, ``future_date``, ``too_long``, ``pattern``,
``not_a_number``, ``out_of_range``, ``not_an_option`` and ``invalid``.

"Today" is the date at ``now`` in China Standard Time (UTC+8), where the centre works.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from .validators import is_mainland_mobile, is_valid_uscc, resident_id_problem

if TYPE_CHECKING:
    from .catalog import Field, Matter

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: a stored material (or signature) is referred to by its id
MATERIAL_ID_PATTERN = "^m-[0-9a-f]{16}$"
DEFAULT_MAX_LENGTH = 200
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

#: the input a page shows for each field type (``ui.fields[name].widget``); a text field
#: whose pattern is digits only gets the digit keypad
WIDGETS: Mapping[str, str] = {
    "text": "text", "number": "digits", "date": "date", "choice": "choice",
    "id_number": "id-number", "uscc": "uscc", "mobile": "digits", "address": "textarea",
    "yesno": "yesno", "signature": "signature", "material": "material",
}
_DIGITS_ONLY = re.compile(r"^\^\\d(\{\d+(,\d*)?\}|\+)\$$")


# --------------------------------------------------------------------------- definition

def form_definition(matter: Matter) -> dict[str, Any]:
    """``{"matter", "version", "schema", "ui"}`` for a matter, as FORMS.md describes."""
    properties = {field.name: field_schema(field) for field in matter.fields}
    schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "title": matter.title.zh,
        "type": "object",
        "properties": properties,
        "required": [field.name for field in matter.fields if field.required],
        "additionalProperties": False,
    }
    ui = {
        "order": [field.name for field in matter.fields],
        "fields": {field.name: _ui_hints(field) for field in matter.fields},
    }
    return {"matter": matter.code, "version": matter.version, "schema": schema, "ui": ui}


def field_schema(field: Field) -> dict[str, Any]:
    """The JSON Schema of one field's value."""
    schema: dict[str, Any] = {"title": field.label.zh}
    if field.type in ("text", "address"):
        schema.update(type="string", maxLength=field.max_length or DEFAULT_MAX_LENGTH)
        if field.pattern:
            schema["pattern"] = field.pattern
    elif field.type == "number":
        schema["type"] = "integer" if field.integer else "number"
        if field.min is not None:
            schema["minimum"] = field.min
        if field.max is not None:
            schema["maximum"] = field.max
    elif field.type == "date":
        schema.update(type="string", format="date")
        if field.not_future:
            schema["x-notFuture"] = True
    elif field.type == "choice":
        schema.update(type="string", enum=[option.value for option in field.options])
    elif field.type == "id_number":
        schema.update(type="string", format="cn-resident-id")
    elif field.type == "uscc":
        schema.update(type="string", format="cn-uscc")
    elif field.type == "mobile":
        schema.update(type="string", format="cn-mobile")
    elif field.type == "yesno":
        schema["type"] = "boolean"
    elif field.type == "material" and field.multiple:
        schema.update(type="array", items={"type": "string", "pattern": MATERIAL_ID_PATTERN},
                      minItems=1, maxItems=10, uniqueItems=True)  # as edit_field takes
    else:  # signature, material
        schema.update(type="string", pattern=MATERIAL_ID_PATTERN)
    return schema


def _ui_hints(field: Field) -> dict[str, Any]:
    widget = WIDGETS[field.type]
    if field.type == "text" and field.pattern and _DIGITS_ONLY.match(field.pattern):
        widget = "digits"
    return {
        "type": field.type,
        "widget": widget,
        "label": field.label.as_json(),
        "placeholder": field.placeholder.as_json() if field.placeholder else None,
        "caller": field.caller,
        "required": field.required,
        "options": [{"value": o.value, "zh": o.label.zh, "en": o.label.en}
                    for o in field.options] or None,
        "material": field.material,
        "multiple": field.multiple,
        "prefill": field.prefill,
    }


# --------------------------------------------------------------------------- validation

def today_at(now: float) -> date:
    """The calendar date in China at the epoch time ``now``."""
    return datetime.fromtimestamp(now, UTC).astimezone(CHINA_STANDARD_TIME).date()


@lru_cache(maxsize=4)
def _validator_class(today: date) -> type[Draft202012Validator]:
    def not_future(validator: Any, enabled: Any, instance: Any,
                   schema: Mapping[str, Any]) -> Iterator[ValidationError]:
        if enabled and isinstance(instance, str):
            try:
                day = date.fromisoformat(instance)
            except ValueError:
                return  # ``format: date`` reports it
            if day > today:
                yield ValidationError(f"{instance} is after today ({today})")

    extended: type[Draft202012Validator] = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"x-notFuture": not_future})
    return extended


@lru_cache(maxsize=4)
def _format_checker(today: date) -> FormatChecker:
    checker = FormatChecker(())

    @checker.checks("date", raises=ValueError)
    def is_date(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}", instance) is not None and bool(
            date.fromisoformat(instance))

    @checker.checks("cn-resident-id")
    def is_resident_id(instance: object) -> bool:
        return not isinstance(instance, str) or resident_id_problem(instance, today) is None

    @checker.checks("cn-uscc")
    def is_uscc(instance: object) -> bool:
        return not isinstance(instance, str) or is_valid_uscc(instance)

    @checker.checks("cn-mobile")
    def is_mobile(instance: object) -> bool:
        return not isinstance(instance, str) or is_mainland_mobile(instance)

    return checker


_FORMAT_CODES: Mapping[str, str] = {
    "cn-resident-id": "invalid_id_number", "cn-uscc": "invalid_uscc",
    "cn-mobile": "invalid_mobile",
}


def _error_code(error: ValidationError, field_type: str) -> str:
    keyword = error.validator
    if keyword == "format":
        return _FORMAT_CODES.get(str(error.validator_value), "invalid")
    if keyword == "x-notFuture":
        return "future_date"
    if keyword == "maxLength":
        return "too_long"
    if keyword == "pattern":
        return "pattern" if field_type == "text" else "invalid"
    if keyword == "enum":
        return "not_an_option"
    if keyword in ("minimum", "maximum"):
        return "out_of_range"
    if keyword == "type" and field_type == "number":
        return "not_a_number"
    return "invalid"


def validate_values(form: Mapping[str, Any], values: Mapping[str, Any], *, now: float,
                    partial: bool) -> dict[str, str]:
    """Field name -> error code for ``values`` against a form definition; ``{}`` if fine.

    ``None``, ``""`` and ``[]`` count as not filled in. ``partial`` (live edits) leaves out
    ``required``; a submission passes ``partial=False``. A value for a field the form does
    not have is ``invalid``.
    """
    schema: Mapping[str, Any] = form["schema"]
    hints: Mapping[str, Mapping[str, Any]] = form["ui"]["fields"]
    filled = {name: value for name, value in values.items()
              if value is not None and value != "" and value != []}
    errors: dict[str, str] = {name: "invalid" for name in filled if name not in hints}
    today = today_at(now)
    validator = _validator_class(today)(schema, format_checker=_format_checker(today))
    known = {name: value for name, value in filled.items() if name in hints}
    for error in validator.iter_errors(known):
        path = list(error.absolute_path)
        if not path or not isinstance(path[0], str):
            continue  # required (below) and additionalProperties (above)
        name = path[0]
        errors.setdefault(name, _error_code(error, str(hints[name].get("type"))))
    if not partial:
        for name in schema.get("required", ()):
            if name not in filled:
                errors[name] = "required"
    return errors
