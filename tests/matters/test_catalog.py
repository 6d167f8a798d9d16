"""The service catalog: the shipped matters make sense, and a broken file is refused with a
message naming the file, the entry and the field."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from signaling.cli import main
from signaling.demo import DEMO_SKILLS
from signaling.matters import SHIPPED_CATALOG
from signaling.matters.catalog import (
    CatalogError,
    load_catalog,
    load_catalog_files,
)
from signaling.store import AuditRepository, CatalogFileRepository, CatalogRepository, Database

CATALOG = load_catalog(SHIPPED_CATALOG)

MATERIALS = """version = 1
[[materials]]
code = "id-card"
name = { zh = "居民身份证", en = "Identity card" }
[[materials]]
code = "property-deed"
name = { zh = "不动产权证书", en = "Property certificate" }
"""
DEPARTMENTS = """version = 1
[[departments]]
code = "water-company"
name = { zh = "水务集团", en = "Water Group" }
"""
WATER = """version = 3
[category]
code = "water"
name = { zh = "供水", en = "Water" }
icon = "water"
sort_order = 10

[[matters]]
code = "water-transfer"
title = { zh = "供水过户", en = "Water transfer" }
weight = 2
norm_minutes = 8
materials = ["id-card", "property-deed"]
departments = ["water-company"]
guidance = { zh = "带上证件。", en = "Bring your papers." }
[[matters.fields]]
name = "account_no"
type = "text"
label = { zh = "户号", en = "Account" }
pattern = "^\\\\d{8,10}$"
[[matters.fields]]
name = "deed"
type = "material"
label = { zh = "产权证", en = "Deed" }
material = "property-deed"

[[matters]]
code = "water-suspension"
title = { zh = "报停", en = "Suspension" }
weight = 1
norm_minutes = 5
materials = []
departments = ["water-company"]
guidance = { zh = "报停。", en = "Suspend." }
[[matters.fields]]
name = "holder"
type = "text"
label = { zh = "户主", en = "Holder" }
prefill = "identity.name"

[[matters]]
code = "water-meter-check"
title = { zh = "水表校验", en = "Meter check" }
weight = 2
norm_minutes = 6
materials = ["id-card"]
departments = ["water-company"]
guidance = { zh = "校验。", en = "Check." }
[[matters.fields]]
name = "reading"
type = "number"
label = { zh = "读数", en = "Reading" }
min = 0
[[matters.fields]]
name = "kind"
type = "choice"
label = { zh = "类型", en = "Kind" }
options = [{ value = "home", zh = "居民", en = "Household" }]
"""


def files(**changes: str) -> dict[str, str]:
    """The small catalog above, with ``water=…`` etc. replacing a file."""
    base = {"materials.toml": MATERIALS, "departments.toml": DEPARTMENTS, "water.toml": WATER}
    base.update({f"{name.replace('_', '-')}.toml": text for name, text in changes.items()})
    return base


def water(old: str, new: str) -> dict[str, str]:
    assert WATER.count(old) == 1, old
    return files(water=WATER.replace(old, new))


def refused(catalog_files: dict[str, str]) -> str:
    with pytest.raises(CatalogError) as error:
        load_catalog_files(catalog_files)
    return str(error.value)


# --------------------------------------------------------------------------- the loader

def test_the_small_catalog_loads() -> None:
    catalog = load_catalog_files(files())
    assert list(catalog.matters) == ["water-transfer", "water-suspension", "water-meter-check"]
    transfer = catalog.matters["water-transfer"]
    assert transfer.version == "water.toml@3" and transfer.category == "water"
    assert transfer.fields[0].required and not transfer.fields[0].caller  # the defaults
    assert catalog.categories["water"].matters == tuple(catalog.matters)
    assert catalog.files() == files()
    assert load_catalog_files(catalog.files()) == catalog


@pytest.mark.parametrize(("catalog_files", "message"), [
    (water('type = "number"', 'type = "numbr"'),
     "water.toml: matters[2] (water-meter-check): fields[0].type: 'numbr' is not one of "
     "['text', 'number', 'date', 'choice', 'id_number', 'uscc', 'mobile', 'address', "
     "'yesno', 'signature', 'material']"),
    (water('title = { zh = "供水过户", en = "Water transfer" }\n', ""),
     "water.toml: matters[0] (water-transfer): 'title' is a required property"),
    (water('title = { zh = "报停", en = "Suspension" }',
           'title = { zh = "报停", en = "" }'),
     "water.toml: matters[1] (water-suspension): title.en: '' should be non-empty"),
    (water("weight = 2\nnorm_minutes = 8", "weight = 6\nnorm_minutes = 8"),
     "water.toml: matters[0] (water-transfer): weight: 6 is greater than the maximum of 5"),
    (water("version = 3", 'version = "3"'), "water.toml: version: '3' is not of type 'integer'"),
    (water('icon = "water"', 'icon = "water"\ncolour = "blue"'),
     "water.toml: category: Additional properties are not allowed ('colour' was unexpected)"),
    (water('name = "account_no"', 'name = "Account-No"'),
     "water.toml: matters[0] (water-transfer): fields[0].name: 'Account-No' does not match "
     "'^[a-z][a-z0-9_]{0,39}$'"),
    (water('code = "water-suspension"', 'code = "Water Suspension"'),
     "water.toml: matters[1] (Water Suspension): code: 'Water Suspension' does not match "
     "'^[a-z0-9][a-z0-9-]{1,63}$'"),
    (water('materials = ["id-card"]', 'materials = ["id-card", "passport"]'),
     "water.toml: matters[2] (water-meter-check): materials[1]: 'passport' is not in "
     "materials.toml"),
    (water('departments = ["water-company"]\nguidance = { zh = "报停。"',
           'departments = ["water-group"]\nguidance = { zh = "报停。"'),
     "water.toml: matters[1] (water-suspension): departments[0]: 'water-group' is not in "
     "departments.toml"),
    (water('options = [{ value = "home", zh = "居民", en = "Household" }]', ""),
     "water.toml: matters[2] (water-meter-check): fields[1].options: a choice field needs "
     "options"),
    (water('options = [{ value = "home", zh = "居民", en = "Household" }]',
           'options = [{ value = "home", zh = "居民", en = "Household" },'
           ' { value = "home", zh = "单位", en = "Company" }]'),
     "water.toml: matters[2] (water-meter-check): fields[1].options[1].value: 'home' appears "
     "twice"),
    (water('material = "property-deed"', ""),
     "water.toml: matters[0] (water-transfer): fields[1].material: a material field needs a "
     "material kind"),
    (water('material = "property-deed"', 'material = "deed"'),
     "water.toml: matters[0] (water-transfer): fields[1].material: 'deed' is not in "
     "materials.toml"),
    (water('materials = ["id-card", "property-deed"]', 'materials = ["id-card"]'),
     "water.toml: matters[0] (water-transfer): fields[1].material: 'property-deed' is not "
     "among the matter's materials"),
    (water('prefill = "identity.name"', 'prefill = "identity.id_number"'),
     "water.toml: matters[1] (water-suspension): fields[0].prefill: 'identity.id_number' "
     "cannot fill a text field (only id_number)"),
    (water('prefill = "identity.name"', 'prefill = "identity.shoe_size"'),
     "water.toml: matters[1] (water-suspension): fields[0].prefill: 'identity.shoe_size' is "
     "not one of ['identity.name', 'identity.id_number', 'identity.address', "
     "'identity.mobile']"),
    (water("min = 0", 'min = 0\npattern = "^\\\\d+$"'),
     "water.toml: matters[2] (water-meter-check): fields[0].pattern: only a text field takes "
     "'pattern', not a number field"),
    (water("min = 0", "min = 10\nmax = 1"),
     "water.toml: matters[2] (water-meter-check): fields[0].max: 1 is below min 10"),
    (water('pattern = "^\\\\d{8,10}$"', 'pattern = "^(\\\\d{8,10}$"'),
     "water.toml: matters[0] (water-transfer): fields[0].pattern: not a regular expression: "
     "missing ), unterminated subpattern at position 1"),
    (water('name = "deed"', 'name = "account_no"'),
     "water.toml: matters[0] (water-transfer): fields[1].name: 'account_no' appears twice"),
    (water('code = "water-suspension"', 'code = "water-transfer"'),
     "water.toml: matters[1] (water-transfer): code: 'water-transfer' is already a matter in "
     "water.toml"),
    (files(water_2=WATER.replace('code = "water"', 'code = "water-two"')),
     "water.toml: matters[0] (water-transfer): code: 'water-transfer' is already a matter in "
     "water-2.toml"),
    (files(water_2="version = 1\nmatters = []\n"
           + WATER[WATER.index("[category]"):WATER.index("[[matters]]")]),
     "water.toml: category.code: 'water' is already the category of water-2.toml"),
    (files(water="version = 3\n[category\n"),
     "water.toml: not valid TOML: Expected ']' at the end of a table declaration "
     "(at line 2, column 10)"),
    ({"water.toml": WATER, "departments.toml": DEPARTMENTS},
     "materials.toml: missing from the catalog"),
    (files(**{"Water": WATER}),
     "Water.toml: a catalog file name is lower-case letters, digits and dashes, ending in "
     ".toml"),
    (files(materials=MATERIALS + '[[materials]]\ncode = "id-card"\nname = { zh = "身份证", '
           'en = "ID" }\n'),
     "materials.toml: materials[2] (id-card): code: 'id-card' appears twice"),
    (files(departments="version = 1\n[[departments]]\ncode = \"x1\"\n"),
     "departments.toml: departments[0] (x1): 'name' is a required property"),
])
def test_a_broken_file_is_refused_naming_file_entry_and_field(
        catalog_files: dict[str, str], message: str) -> None:
    assert refused(catalog_files) == message


def test_load_catalog_reads_only_toml_files_of_a_folder(tmp_path: Path) -> None:
    for name, text in files().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "README.txt").write_text("not a catalog file")
    assert load_catalog(tmp_path).files() == files()
    with pytest.raises(CatalogError, match="not a folder"):
        load_catalog(tmp_path / "missing")


# --------------------------------------------------------------------------- shipped data

def test_the_shipped_catalog_has_thirty_real_matters_in_every_field() -> None:
    assert len(CATALOG.matters) >= 30
    assert list(CATALOG.categories) == ["water", "electricity", "gas", "transport",
                                        "citizen-card", "tv", "tax", "social-security",
                                        "business-licence"]
    for category in CATALOG.categories.values():
        assert len(category.matters) >= 3, category.code


@pytest.mark.parametrize("code", list(CATALOG.matters))
def test_every_shipped_matter_is_complete(code: str) -> None:
    matter = CATALOG.matters[code]
    assert matter.title.zh and matter.title.en
    assert 3 <= len(matter.fields) <= 8
    assert [f.type for f in matter.fields].count("signature") == 1
    assert all(f.caller for f in matter.fields if f.type in ("signature", "material"))
    assert 1 <= matter.weight <= 5 and matter.norm_minutes > 0
    for text in (matter.guidance.zh, matter.guidance.en):
        assert 2 <= len(text.split("\n\n")) <= 4
    assert matter.departments
    for field in matter.fields:
        if field.type == "material":
            assert field.material in matter.materials
        assert field.label.zh and field.label.en


def test_the_moving_house_matters_share_id_card_and_property_deed() -> None:
    moving = ["water-transfer", "electricity-transfer", "gas-transfer", "tv-transfer"]
    for code in moving:
        matter = CATALOG.matters[code]
        assert {"id-card", "property-deed"} <= set(matter.materials)
        deeds = [f for f in matter.fields if f.material == "property-deed"]
        assert len(deeds) == 1
        prefilled = {f.prefill for f in matter.fields}
        assert {"identity.name", "identity.id_number"} <= prefilled


def test_the_catalog_json_lists_categories_matters_materials_and_departments() -> None:
    shown = CATALOG.to_json()
    water = shown["categories"][0]
    assert water["code"] == "water" and water["name"] == {"zh": "供水", "en": "Water"}
    transfer = water["matters"][0]
    assert transfer == {
        "code": "water-transfer", "title": {"zh": "供水过户",
                                            "en": "Water account transfer of ownership"},
        "weight": 2, "norm_minutes": 8, "materials": ["id-card", "property-deed"],
        "departments": ["water-company"], "version": "water.toml@1"}
    assert {"code": "id-card", "name": {"zh": "居民身份证", "en": "Resident identity card"}} \
        in shown["materials"]
    assert any(d["code"] == "power-supply" for d in shown["departments"])
    assert sum(len(c["matters"]) for c in shown["categories"]) == len(CATALOG.matters)


def test_the_demo_skills_are_the_catalog_categories_and_other() -> None:
    by_code = {skill["code"]: skill for skill in DEMO_SKILLS}
    assert list(by_code) == [*CATALOG.categories, "other"]
    for category in CATALOG.categories.values():
        skill = by_code[category.code]
        assert (skill["name_zh"], skill["name_en"], skill["icon"], skill["sort_order"]) == (
            category.name.zh, category.name.en, category.icon, category.sort_order)
    assert by_code["other"] == {"code": "other", "name_zh": "其他", "name_en": "Other",
                                "icon": "dots", "sort_order": 100}


# --------------------------------------------------------------------------- admin CLI

def _stored(data: Path) -> tuple[dict[str, str], list[str], list[tuple[str, dict[str, Any]]]]:
    """(catalog files, skill codes, audit entries) in the store under ``data``."""
    async def read() -> tuple[dict[str, str], list[str], list[tuple[str, dict[str, Any]]]]:
        db = Database(f"sqlite+aiosqlite:///{data / 'cloud-agent.db'}")
        try:
            await db.create_all()
            files = await CatalogFileRepository(db).all()
            skills = [s.code for s in await CatalogRepository(db).list_skills()]
            audit = [(e.action, e.detail) for e in await AuditRepository(db).recent()]
            return files, skills, audit
        finally:
            await db.dispose()
    return asyncio.run(read())


def test_export_then_import_and_export_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, out = str(tmp_path / "data"), tmp_path / "out"
    assert main(["admin", "--data-dir", data, "export-catalog", str(out)]) == 0
    assert "of the shipped catalog" in capsys.readouterr().out
    assert {p.name: p.read_text(encoding="utf-8") for p in out.iterdir()} == CATALOG.files()

    changed = (out / "water.toml").read_text(encoding="utf-8").replace(
        "version = 1", "version = 2", 1).replace("供水过户", "供水过户（二手房）", 1)
    (out / "water.toml").write_text(changed, encoding="utf-8")
    (out / "library.toml").write_text(
        WATER.replace('code = "water', 'code = "library').replace('icon = "water"',
                                                                  'icon = "book"'),
        encoding="utf-8")
    assert main(["admin", "--data-dir", data, "import-catalog", str(out)]) == 0
    assert "imported 38 matters in 10 categories from 12 files" in capsys.readouterr().out
    files, skills, audit = _stored(tmp_path / "data")
    assert files["water.toml"] == changed and "library.toml" in files
    assert "library" in skills and "water" in skills
    assert audit[0][0] == "catalog_imported" and audit[0][1]["matters"] == 38
    assert audit[0][1]["versions"]["water.toml"] == 2

    again = tmp_path / "again"
    assert main(["admin", "--data-dir", data, "export-catalog", str(again)]) == 0
    assert "of the imported catalog" in capsys.readouterr().out
    assert load_catalog(again).matters["water-transfer"].title.zh == "供水过户（二手房）"
    assert main(["admin", "--data-dir", data, "export-catalog", str(again)]) == 1
    assert "already has" in capsys.readouterr().out
    assert main(["admin", "--data-dir", data, "export-catalog", str(again), "--force"]) == 0


def test_a_broken_catalog_is_not_imported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    for name, text in water('type = "number"', 'type = "numbr"').items():
        (folder / name).write_text(text, encoding="utf-8")
    data = str(tmp_path / "data")
    assert main(["admin", "--data-dir", data, "import-catalog", str(folder)]) == 2
    out = capsys.readouterr().out
    assert "catalog not imported: water.toml: matters[2] (water-meter-check): " \
        "fields[0].type: 'numbr' is not one of" in out
    assert main(["admin", "--data-dir", data, "import-catalog", str(tmp_path / "none")]) == 2
    files, _, audit = _stored(tmp_path / "data")
    assert files == {} and audit == []
