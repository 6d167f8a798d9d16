"""Forms: the JSON Schema and UI hints made from a matter, and the server's verdict on the
values of each field type, as the error codes the pages explain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from signaling.matters import SHIPPED_CATALOG
from signaling.matters.catalog import load_catalog, load_catalog_files
from signaling.matters.forms import today_at, validate_values

#: 2025-06-10 00:30 in China (UTC+8), still 9 June in UTC
NOW = datetime(2025, 6, 9, 16, 30, tzinfo=UTC).timestamp()
MATERIAL = "m-0123456789abcdef"

EVERY_TYPE = """version = 2
[category]
code = "test"
name = { zh = "测试", en = "Test" }
icon = "dots"
sort_order = 1

[[matters]]
code = "every-type"
title = { zh = "各类字段", en = "Every field type" }
weight = 1
norm_minutes = 1
materials = ["id-card"]
departments = ["dept"]
guidance = { zh = "说明。", en = "Guidance." }
[[matters.fields]]
name = "account_no"
type = "text"
label = { zh = "户号", en = "Account" }
pattern = "^\\\\d{8,10}$"
caller = true

[[matters.fields]]
name = "note"
type = "text"
label = { zh = "备注", en = "Note" }
required = false
placeholder = { zh = "可不填", en = "Optional" }

[[matters.fields]]
name = "address"
type = "address"
label = { zh = "地址", en = "Address" }
max_length = 10

[[matters.fields]]
name = "reading"
type = "number"
label = { zh = "读数", en = "Reading" }
min = 0
max = 9999
integer = true
caller = true

[[matters.fields]]
name = "amount"
type = "number"
label = { zh = "金额", en = "Amount" }
min = 0.5

[[matters.fields]]
name = "born"
type = "date"
label = { zh = "日期", en = "Date" }
not_future = true

[[matters.fields]]
name = "visit"
type = "date"
label = { zh = "预约", en = "Visit" }
required = false

[[matters.fields]]
name = "kind"
type = "choice"
label = { zh = "类型", en = "Kind" }
options = [
    { value = "home", zh = "居民", en = "Household" },
    { value = "shop", zh = "商铺", en = "Shop" },
]

[[matters.fields]]
name = "id_number"
type = "id_number"
label = { zh = "身份证号", en = "ID number" }
prefill = "identity.id_number"

[[matters.fields]]
name = "uscc"
type = "uscc"
label = { zh = "信用代码", en = "USCC" }

[[matters.fields]]
name = "mobile"
type = "mobile"
label = { zh = "手机", en = "Mobile" }
prefill = "identity.mobile"

[[matters.fields]]
name = "agree"
type = "yesno"
label = { zh = "同意", en = "Agree" }
caller = true

[[matters.fields]]
name = "signature"
type = "signature"
label = { zh = "签名", en = "Signature" }
caller = true

[[matters.fields]]
name = "card"
type = "material"
label = { zh = "身份证", en = "ID card" }
material = "id-card"
caller = true

[[matters.fields]]
name = "cards"
type = "material"
label = { zh = "证件", en = "Papers" }
material = "id-card"
multiple = true
required = false
"""
CATALOG = load_catalog_files({
    "materials.toml": 'version = 1\n[[materials]]\ncode = "id-card"\n'
                      'name = { zh = "身份证", en = "ID card" }\n',
    "departments.toml": 'version = 1\n[[departments]]\ncode = "dept"\n'
                        'name = { zh = "部门", en = "Department" }\n',
    "test.toml": EVERY_TYPE,
})
FORM = CATALOG.form("every-type")
GOOD: dict[str, Any] = {
    "account_no": "12345678", "note": "", "address": "武原街道1号", "reading": 42,
    "amount": 0.5, "born": "2025-06-10", "visit": "2030-01-01", "kind": "shop",
    "id_number": "11010519491231002X", "uscc": "91350100M000100Y43", "mobile": "13800138000",
    "agree": False, "signature": MATERIAL, "card": MATERIAL,
    "cards": [MATERIAL, "m-fedcba9876543210"],
}


def errors(**values: Any) -> dict[str, str]:
    """The errors of GOOD with ``values`` replacing some of it (partial=False)."""
    return validate_values(FORM, {**GOOD, **values}, now=NOW, partial=False)


# --------------------------------------------------------------------------- definition

def test_the_definition_has_the_matter_version_schema_and_ui_hints() -> None:
    assert FORM["matter"] == "every-type" and FORM["version"] == "test.toml@2"
    schema = FORM["schema"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == [n for n in FORM["ui"]["order"]
                                  if n not in ("note", "visit", "cards")]
    assert FORM["ui"]["order"] == list(schema["properties"]) == list(GOOD)
    hints = FORM["ui"]["fields"]
    assert hints["account_no"] == {
        "type": "text", "widget": "digits", "label": {"zh": "户号", "en": "Account"},
        "placeholder": None, "caller": True, "required": True, "options": None,
        "material": None, "multiple": False, "prefill": None}
    assert hints["note"]["widget"] == "text"
    assert hints["note"]["placeholder"] == {"zh": "可不填", "en": "Optional"}
    assert hints["kind"]["options"] == [{"value": "home", "zh": "居民", "en": "Household"},
                                        {"value": "shop", "zh": "商铺", "en": "Shop"}]
    assert hints["id_number"]["prefill"] == "identity.id_number"
    assert hints["cards"]["material"] == "id-card" and hints["cards"]["multiple"] is True
    assert {name: h["widget"] for name, h in hints.items() if name in (
        "reading", "born", "id_number", "mobile", "agree", "signature", "card")} == {
        "reading": "digits", "born": "date", "id_number": "id-number", "mobile": "digits",
        "agree": "yesno", "signature": "signature", "card": "material"}


def test_each_field_type_becomes_its_json_schema() -> None:
    properties = FORM["schema"]["properties"]
    assert properties["account_no"] == {"title": "户号", "type": "string", "maxLength": 200,
                                        "pattern": "^\\d{8,10}$"}
    assert properties["address"]["maxLength"] == 10
    assert properties["reading"] == {"title": "读数", "type": "integer", "minimum": 0,
                                     "maximum": 9999}
    assert properties["amount"]["type"] == "number"
    assert properties["born"] == {"title": "日期", "type": "string", "format": "date",
                                  "x-notFuture": True}
    assert "x-notFuture" not in properties["visit"]
    assert properties["kind"]["enum"] == ["home", "shop"]
    assert properties["id_number"]["format"] == "cn-resident-id"
    assert properties["uscc"]["format"] == "cn-uscc"
    assert properties["mobile"]["format"] == "cn-mobile"
    assert properties["agree"]["type"] == "boolean"
    assert properties["signature"]["pattern"] == properties["card"]["pattern"] == \
        "^m-[0-9a-f]{16}$"
    assert properties["cards"]["type"] == "array"


@pytest.mark.parametrize("code", list(load_catalog(SHIPPED_CATALOG).matters))
def test_every_shipped_form_is_a_valid_2020_12_schema(code: str) -> None:
    form = load_catalog(SHIPPED_CATALOG).form(code)
    Draft202012Validator.check_schema(form["schema"])
    assert form["ui"]["order"] == list(form["schema"]["properties"])


def test_a_standard_validator_accepts_good_values_too() -> None:
    """Pages or other clients may use any 2020-12 validator; the custom bits are additive."""
    assert list(Draft202012Validator(FORM["schema"]).iter_errors(
        {k: v for k, v in GOOD.items() if v != ""})) == []


# --------------------------------------------------------------------------- validation

def test_good_values_have_no_errors() -> None:
    assert errors() == {}
    assert today_at(NOW).isoformat() == "2025-06-10"


def test_required_fields_only_on_submit() -> None:
    empty: dict[str, Any] = {"account_no": "", "reading": None, "cards": []}
    assert validate_values(FORM, empty, now=NOW, partial=True) == {}
    missing = validate_values(FORM, empty, now=NOW, partial=False)
    assert set(missing) == set(FORM["schema"]["required"])
    assert set(missing.values()) == {"required"}
    assert errors(note="", visit=None, cards=[]) == {}  # the optional ones


def test_a_field_the_form_does_not_have_is_invalid() -> None:
    assert errors(colour="blue") == {"colour": "invalid"}


@pytest.mark.parametrize(("field", "value", "code"), [
    ("account_no", "1234567", "pattern"),
    ("account_no", "12345678a", "pattern"),
    ("account_no", 12345678, "invalid"),
    ("note", "字" * 201, "too_long"),
    ("address", "武原街道武原路一百号", None),
    ("address", "武原街道武原路一百零一号", "too_long"),
    ("reading", "42", "not_a_number"),
    ("reading", 4.5, "not_a_number"),
    ("reading", True, "not_a_number"),
    ("reading", -1, "out_of_range"),
    ("reading", 10000, "out_of_range"),
    ("reading", 9999, None),
    ("amount", 0.4, "out_of_range"),
    ("amount", 12.75, None),
    ("born", "2025-06-11", "future_date"),
    ("born", "2025-02-30", "invalid"),
    ("born", "2025/06/01", "invalid"),
    ("born", "1990-01-01", None),
    ("visit", "2031-12-31", None),
    ("kind", "farm", "not_an_option"),
    ("kind", "Home", "not_an_option"),
    ("id_number", "110105194912310021", "invalid_id_number"),
    ("id_number", "11010519491231002x", None),
    ("id_number", "330424202506110018", "invalid_id_number"),  # born tomorrow
    ("id_number", "990424199001011231", "invalid_id_number"),  # no such province
    ("id_number", 11010519491231002, "invalid"),
    ("uscc", "91350100M000100Y44", "invalid_uscc"),
    ("uscc", "91350100m000100y43", "invalid_uscc"),
    ("mobile", "12800138000", "invalid_mobile"),
    ("mobile", "1380013800", "invalid_mobile"),
    ("agree", "yes", "invalid"),
    ("agree", True, None),
    ("signature", "m-0123", "invalid"),
    ("signature", "data:image/png;base64,AAAA", "invalid"),
    ("card", [MATERIAL], "invalid"),
    ("cards", MATERIAL, "invalid"),
    ("cards", [MATERIAL, MATERIAL], "invalid"),
    ("cards", ["m-XYZ"], "invalid"),
])
def test_each_field_type_gives_its_error_code(field: str, value: Any, code: str | None) -> None:
    expected = {} if code is None else {field: code}
    assert errors(**{field: value}) == expected
    assert validate_values(FORM, {field: value}, now=NOW, partial=True) == expected


def test_several_errors_come_back_at_once() -> None:
    assert errors(account_no="12", mobile="1", kind="farm") == {
        "account_no": "pattern", "mobile": "invalid_mobile", "kind": "not_an_option"}
