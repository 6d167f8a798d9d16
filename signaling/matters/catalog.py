"""The service catalog: categories (the routing skills), their matters, the materials and
the departments, read from a folder of versioned TOML files.

A catalog folder holds ``materials.toml``, ``departments.toml`` and one file per category
(``water.toml`` …). Each file is checked against a JSON Schema of its format, then the files
are checked against each other (codes unique, every material and department known, …). Any
mistake raises :class:`CatalogError` naming the file, the entry and the field, e.g.
``water.toml: matters[2] (water-meter-check): fields[1].type: 'numbr' is not one of […]``.

Pure: :func:`load_catalog_files` takes the texts; only :func:`load_catalog` reads a folder.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from . import SHIPPED_CATALOG
from .forms import form_definition

__all__ = ["SHIPPED_CATALOG", "Catalog", "CatalogError", "Category", "Department", "Field",
           "MaterialKind", "Matter", "Option", "Text", "load_catalog", "load_catalog_files"]

MATERIALS_FILE = "materials.toml"
DEPARTMENTS_FILE = "departments.toml"

FIELD_TYPES = ("text", "number", "date", "choice", "id_number", "uscc", "mobile", "address",
               "yesno", "signature", "material")
#: ``prefill`` sources and the field types each may fill
PREFILL_TYPES: Mapping[str, tuple[str, ...]] = {
    "identity.name": ("text",),
    "identity.id_number": ("id_number",),
    "identity.address": ("address", "text"),
    "identity.mobile": ("mobile",),
}
_FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\.toml$")


class CatalogError(ValueError):
    """A catalog file is not valid; the message names the file, the entry and the field."""


# --------------------------------------------------------------------------- file schemas

_CODE = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,63}$"}
_TEXT = {
    "type": "object",
    "properties": {"zh": {"type": "string", "minLength": 1, "maxLength": 4000},
                   "en": {"type": "string", "minLength": 1, "maxLength": 4000}},
    "required": ["zh", "en"],
    "additionalProperties": False,
}
_NAMED_LIST = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "object", "properties": {"code": _CODE, "name": _TEXT},
              "required": ["code", "name"], "additionalProperties": False},
}
_FIELD = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"},
        "type": {"enum": list(FIELD_TYPES)},
        "label": _TEXT,
        "required": {"type": "boolean"},
        "caller": {"type": "boolean"},
        "placeholder": _TEXT,
        "pattern": {"type": "string", "minLength": 1, "maxLength": 200},
        "max_length": {"type": "integer", "minimum": 1, "maximum": 2000},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "integer": {"type": "boolean"},
        "not_future": {"type": "boolean"},
        "options": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "object",
                      "properties": {"value": {"type": "string", "minLength": 1,
                                               "maxLength": 64},
                                     "zh": {"type": "string", "minLength": 1},
                                     "en": {"type": "string", "minLength": 1}},
                      "required": ["value", "zh", "en"], "additionalProperties": False},
        },
        "material": _CODE,
        "multiple": {"type": "boolean"},
        "prefill": {"enum": list(PREFILL_TYPES)},
    },
    "required": ["name", "type", "label"],
    "additionalProperties": False,
}
#: the format of a category file (``water.toml``)
CATEGORY_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "version": {"type": "integer", "minimum": 1},
        "category": {
            "type": "object",
            "properties": {"code": _CODE, "name": _TEXT,
                           "icon": {"type": "string", "pattern": "^[a-z0-9-]{1,32}$"},
                           "sort_order": {"type": "integer"}},
            "required": ["code", "name", "icon", "sort_order"],
            "additionalProperties": False,
        },
        "matters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "code": _CODE,
                    "title": _TEXT,
                    "weight": {"type": "integer", "minimum": 1, "maximum": 5},
                    "norm_minutes": {"type": "integer", "minimum": 1, "maximum": 240},
                    "materials": {"type": "array", "items": _CODE, "uniqueItems": True},
                    "departments": {"type": "array", "items": _CODE, "minItems": 1,
                                    "uniqueItems": True},
                    "guidance": _TEXT,
                    "fields": {"type": "array", "items": _FIELD, "minItems": 1,
                               "maxItems": 40},
                    # consented recording of calls to the matter's category (default none)
                    "recording": {"enum": ["none", "consent", "consent_or_callback"]},
                },
                "required": ["code", "title", "weight", "norm_minutes", "materials",
                             "departments", "guidance", "fields"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["version", "category", "matters"],
    "additionalProperties": False,
}
#: the format of ``materials.toml`` and ``departments.toml`` (list key: materials/departments)
def _list_file_schema(key: str) -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"version": {"type": "integer", "minimum": 1}, key: _NAMED_LIST},
            "required": ["version", key], "additionalProperties": False}


MATERIALS_FILE_SCHEMA = _list_file_schema("materials")
DEPARTMENTS_FILE_SCHEMA = _list_file_schema("departments")
for _schema in (CATEGORY_FILE_SCHEMA, MATERIALS_FILE_SCHEMA, DEPARTMENTS_FILE_SCHEMA):
    Draft202012Validator.check_schema(_schema)


# --------------------------------------------------------------------------- the model

@dataclass(frozen=True)
class Text:
    """A user-facing text, Simplified Chinese first."""

    zh: str
    en: str

    def as_json(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


@dataclass(frozen=True)
class Option:
    """One choice of a ``choice`` field."""

    value: str
    label: Text


@dataclass(frozen=True)
class Field:
    """One field of a matter's form; see docs in FORMS.md for what each key means."""

    name: str
    type: str
    label: Text
    required: bool = True
    caller: bool = False
    placeholder: Text | None = None
    pattern: str | None = None
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    integer: bool = False
    not_future: bool = False
    options: tuple[Option, ...] = ()
    material: str | None = None
    multiple: bool = False
    prefill: str | None = None


@dataclass(frozen=True)
class Matter:
    """Something a caller settles: its form, materials, approving departments, guidance."""

    code: str
    category: str
    title: Text
    weight: int
    norm_minutes: int
    materials: tuple[str, ...]
    departments: tuple[str, ...]
    guidance: Text
    fields: tuple[Field, ...]
    #: ``"water.toml@3"``: the file and version the form came from
    version: str
    #: recording this matter demands of calls to its category (``RecordingPolicy`` value)
    recording: str = "none"

    @property
    def title_zh(self) -> str:
        return self.title.zh

    @property
    def title_en(self) -> str:
        return self.title.en


@dataclass(frozen=True)
class Category:
    """A routing skill and the matters under it."""

    code: str
    name: Text
    icon: str
    sort_order: int
    file: str
    version: int
    matters: tuple[str, ...]


@dataclass(frozen=True)
class MaterialKind:
    """A kind of document a matter needs (ID card, property deed, …)."""

    code: str
    name: Text


@dataclass(frozen=True)
class Department:
    """A body that approves matters (used by cases)."""

    code: str
    name: Text


@dataclass(frozen=True)
class Catalog:
    """The whole catalog; categories in ``sort_order``, matters in file order."""

    categories: Mapping[str, Category]
    matters: Mapping[str, Matter]
    materials: Mapping[str, MaterialKind]
    departments: Mapping[str, Department]
    #: file name -> text, as loaded (what ``export-catalog`` writes back)
    sources: Mapping[str, str]

    def files(self) -> dict[str, str]:
        """File name -> TOML text of every catalog file."""
        return dict(self.sources)

    def form(self, code: str) -> dict[str, Any]:
        """``{"matter", "version", "schema", "ui"}`` of a matter; KeyError if unknown."""
        return form_definition(self.matters[code])

    def to_json(self) -> dict[str, Any]:
        """What ``GET /api/catalog`` answers: categories with their matters, the materials
        and the departments."""
        def matter(m: Matter) -> dict[str, Any]:
            return {"code": m.code, "title": m.title.as_json(), "weight": m.weight,
                    "norm_minutes": m.norm_minutes, "materials": list(m.materials),
                    "departments": list(m.departments), "version": m.version}
        return {
            "categories": [
                {"code": c.code, "name": c.name.as_json(), "icon": c.icon,
                 "sort_order": c.sort_order, "version": c.version,
                 "matters": [matter(self.matters[code]) for code in c.matters]}
                for c in self.categories.values()],
            "materials": [{"code": k.code, "name": k.name.as_json()}
                          for k in self.materials.values()],
            "departments": [{"code": d.code, "name": d.name.as_json()}
                            for d in self.departments.values()],
        }


# --------------------------------------------------------------------------- loading

def load_catalog(folder: Path) -> Catalog:
    """Load every ``*.toml`` file of ``folder`` (other files are ignored)."""
    if not folder.is_dir():
        raise CatalogError(f"{folder}: not a folder")
    return load_catalog_files({path.name: path.read_text(encoding="utf-8")
                               for path in sorted(folder.glob("*.toml"))})


def load_catalog_files(files: Mapping[str, str]) -> Catalog:
    """Build a catalog from file name -> TOML text; raises :class:`CatalogError`."""
    for name in sorted(files):
        if not _FILE_NAME.match(name):
            raise CatalogError(f"{name}: a catalog file name is lower-case letters, digits "
                               "and dashes, ending in .toml")
    for required in (MATERIALS_FILE, DEPARTMENTS_FILE):
        if required not in files:
            raise CatalogError(f"{required}: missing from the catalog")
    documents = {name: _parse(name, files[name]) for name in sorted(files)}

    materials = {entry["code"]: MaterialKind(entry["code"], _text(entry["name"]))
                 for entry in _named(MATERIALS_FILE, documents[MATERIALS_FILE], "materials",
                                     MATERIALS_FILE_SCHEMA)}
    departments = {entry["code"]: Department(entry["code"], _text(entry["name"]))
                   for entry in _named(DEPARTMENTS_FILE, documents[DEPARTMENTS_FILE],
                                       "departments", DEPARTMENTS_FILE_SCHEMA)}
    categories: list[Category] = []
    matters: dict[str, Matter] = {}
    category_files: dict[str, str] = {}
    for name, document in documents.items():
        if name in (MATERIALS_FILE, DEPARTMENTS_FILE):
            continue
        _validate(name, document, CATEGORY_FILE_SCHEMA)
        category = document["category"]
        if category["code"] in category_files:
            raise CatalogError(f"{name}: category.code: {category['code']!r} is already the "
                               f"category of {category_files[category['code']]}")
        category_files[category["code"]] = name
        codes: list[str] = []
        for index, entry in enumerate(document["matters"]):
            where = f"{name}: matters[{index}] ({entry['code']})"
            if entry["code"] in matters:
                raise CatalogError(f"{where}: code: {entry['code']!r} is already a matter in "
                                   f"{matters[entry['code']].version.split('@')[0]}")
            matter = _matter(where, entry, category["code"], f"{name}@{document['version']}",
                             materials, departments)
            matters[matter.code] = matter
            codes.append(matter.code)
        categories.append(Category(
            code=category["code"], name=_text(category["name"]), icon=category["icon"],
            sort_order=category["sort_order"], file=name, version=document["version"],
            matters=tuple(codes)))
    categories.sort(key=lambda c: (c.sort_order, c.code))
    in_order = {code: matters[code] for c in categories for code in c.matters}
    return Catalog(categories={c.code: c for c in categories}, matters=in_order,
                   materials=materials, departments=departments, sources=dict(files))


def _parse(name: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{name}: not valid TOML: {error}") from None


def _named(name: str, document: dict[str, Any], key: str,
           schema: dict[str, Any]) -> list[dict[str, Any]]:
    _validate(name, document, schema)
    entries: list[dict[str, Any]] = document[key]
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry["code"] in seen:
            raise CatalogError(f"{name}: {key}[{index}] ({entry['code']}): code: "
                               f"{entry['code']!r} appears twice")
        seen.add(entry["code"])
    return entries


def _validate(name: str, document: dict[str, Any], schema: dict[str, Any]) -> None:
    """Raise the first schema error (in document order) naming file, entry and field."""
    errors = list(Draft202012Validator(schema).iter_errors(document))
    if not errors:
        return
    first_path = min(_path_key(e.absolute_path) for e in errors)
    error = best_match(e for e in errors if _path_key(e.absolute_path) == first_path)
    assert error is not None
    raise CatalogError(f"{_where(name, document, error)}: {error.message}")


def _path_key(path: Iterable[str | int]) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path)


def _where(name: str, document: dict[str, Any], error: ValidationError) -> str:
    """``water.toml: matters[2] (water-meter-check): fields[1].type`` for an error's path."""
    path = list(error.absolute_path)
    parts = [name]
    if len(path) >= 2 and isinstance(path[0], str) and isinstance(path[1], int):
        entry = document[path[0]][path[1]]
        code = entry.get("code") if isinstance(entry, dict) else None
        parts.append(f"{path[0]}[{path[1]}]" + (f" ({code})" if isinstance(code, str) else ""))
        path = path[2:]
    rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    if rest:
        parts.append(rest)
    return ": ".join(parts)


def _text(entry: Mapping[str, str]) -> Text:
    return Text(zh=entry["zh"], en=entry["en"])


def _matter(where: str, entry: dict[str, Any], category: str, version: str,
            materials: Mapping[str, MaterialKind],
            departments: Mapping[str, Department]) -> Matter:
    for index, code in enumerate(entry["materials"]):
        if code not in materials:
            raise CatalogError(f"{where}: materials[{index}]: {code!r} is not in "
                               f"{MATERIALS_FILE}")
    for index, code in enumerate(entry["departments"]):
        if code not in departments:
            raise CatalogError(f"{where}: departments[{index}]: {code!r} is not in "
                               f"{DEPARTMENTS_FILE}")
    fields: list[Field] = []
    for index, raw in enumerate(entry["fields"]):
        field = _field(f"{where}: fields[{index}]", raw, materials)
        if any(f.name == field.name for f in fields):
            raise CatalogError(f"{where}: fields[{index}].name: {field.name!r} appears twice")
        if field.material is not None and field.material not in entry["materials"]:
            raise CatalogError(f"{where}: fields[{index}].material: {field.material!r} is not "
                               "among the matter's materials")
        fields.append(field)
    return Matter(code=entry["code"], category=category, title=_text(entry["title"]),
                  weight=entry["weight"], norm_minutes=entry["norm_minutes"],
                  materials=tuple(entry["materials"]),
                  departments=tuple(entry["departments"]), guidance=_text(entry["guidance"]),
                  fields=tuple(fields), version=version,
                  recording=entry.get("recording", "none"))


#: keys that only some field types take
_ONLY_FOR: Mapping[str, tuple[str, ...]] = {
    "pattern": ("text",),
    "max_length": ("text", "address"),
    "min": ("number",),
    "max": ("number",),
    "integer": ("number",),
    "not_future": ("date",),
    "options": ("choice",),
    "material": ("material",),
    "multiple": ("material",),
}


def _field(where: str, raw: dict[str, Any], materials: Mapping[str, MaterialKind]) -> Field:
    kind: str = raw["type"]
    for key, types in _ONLY_FOR.items():
        if key in raw and kind not in types:
            raise CatalogError(f"{where}.{key}: only a {' or '.join(types)} field takes "
                               f"{key!r}, not a {kind} field")
    if kind == "choice":
        if "options" not in raw:
            raise CatalogError(f"{where}.options: a choice field needs options")
        values = [option["value"] for option in raw["options"]]
        for index, value in enumerate(values):
            if value in values[:index]:
                raise CatalogError(f"{where}.options[{index}].value: {value!r} appears twice")
    if kind == "material":
        if "material" not in raw:
            raise CatalogError(f"{where}.material: a material field needs a material kind")
        if raw["material"] not in materials:
            raise CatalogError(f"{where}.material: {raw['material']!r} is not in "
                               f"{MATERIALS_FILE}")
    if "pattern" in raw:
        try:
            re.compile(raw["pattern"])
        except re.error as error:
            raise CatalogError(f"{where}.pattern: not a regular expression: {error}") from None
    if "min" in raw and "max" in raw and raw["min"] > raw["max"]:
        raise CatalogError(f"{where}.max: {raw['max']} is below min {raw['min']}")
    prefill: str | None = raw.get("prefill")
    if prefill is not None and kind not in PREFILL_TYPES[prefill]:
        raise CatalogError(f"{where}.prefill: {prefill!r} cannot fill a {kind} field "
                           f"(only {' or '.join(PREFILL_TYPES[prefill])})")
    placeholder = raw.get("placeholder")
    options: Sequence[dict[str, str]] = raw.get("options", ())
    return Field(
        name=raw["name"], type=kind, label=_text(raw["label"]),
        required=raw.get("required", True), caller=raw.get("caller", False),
        placeholder=_text(placeholder) if placeholder else None, pattern=raw.get("pattern"),
        max_length=raw.get("max_length"), min=raw.get("min"), max=raw.get("max"),
        integer=raw.get("integer", False), not_future=raw.get("not_future", False),
        options=tuple(Option(o["value"], Text(o["zh"], o["en"])) for o in options),
        material=raw.get("material"), multiple=raw.get("multiple", False), prefill=prefill)
