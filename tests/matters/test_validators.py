"""Resident ID, USCC and mobile validators: one table, checked against the Python validators
and against their JavaScript mirror (run by node), so the pages and the server agree."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from signaling.matters.validators import (
    is_mainland_mobile,
    is_valid_resident_id,
    is_valid_uscc,
    normalize_resident_id,
    resident_id_check_character,
    resident_id_problem,
)

TODAY = date(2025, 6, 10)
VALIDATORS_JS = (Path(__file__).resolve().parents[2]
                 / "kiosk_client" / "static" / "common" / "validators.js")

#: (number, reason as of TODAY); None = valid
RESIDENT_IDS: list[tuple[str, str | None]] = [
    ("11010519491231002X", None),  # the GB 11643-1999 example, check character X
    ("11010519491231002x", None),  # lower-case x is accepted (people type it)
    ("33042419880717100X", None),
    ("33042419880704115X", None),
    ("330424199001011239", None),
    ("330424198512300046", None),
    ("330424200002290036", None),  # 29 February of a leap year
    ("820000200002290021", None),  # Macao
    ("710000190001010014", None),  # Taiwan, 1 January 1900: the earliest date accepted
    ("650102202401010010", None),
    ("330424202506100012", None),  # born today
    (" 330424199001011239 ", None),  # surrounding spaces from a paste
    ("", "empty"),
    ("   ", "empty"),
    ("33042419900101123", "length"),
    ("3304241990010112390", "length"),
    ("33042419900101123A", "characters"),
    ("3304241990O1011239", "characters"),
    ("X30424199001011239", "characters"),
    ("990424199001011231", "region"),
    ("100424199001011236", "region"),
    ("110105200002300015", "birth_date"),  # 30 February
    ("330424199013010014", "birth_date"),  # month 13
    ("330424199004310015", "birth_date"),  # 31 April
    ("330424191902290013", "birth_date"),  # 1919 was no leap year
    ("330424189912310011", "birth_date"),  # before 1900
    ("440524188001010014", "birth_date"),  # the GB 11643 example from 1880
    ("330424202506110018", "future_birth_date"),  # tomorrow
    ("330424209912310017", "future_birth_date"),
    ("330424199001011230", "check_digit"),
    ("33042419900101123X", "check_digit"),
    ("110105194912310021", "check_digit"),  # the example with the X typed as 1
    ("330424199001011293", "check_digit"),  # two digits swapped
]

USCCS: list[tuple[str, bool]] = [
    ("91350100M000100Y43", True),
    ("91330424MA2B3C4D5Y", True),
    ("91350100M000100Y44", False),
    ("9135010OM000100Y43", False),
    ("91350100m000100y43", False),
    ("", False),
]

MOBILES: list[tuple[str, bool]] = [
    ("13800138000", True),
    ("19912345678", True),
    ("12800138000", False),
    ("1380013800", False),
    ("138001380000", False),
    ("+8613800138000", False),
    ("", False),
]


@pytest.mark.parametrize(("number", "reason"), RESIDENT_IDS)
def test_resident_id_reasons(number: str, reason: str | None) -> None:
    assert resident_id_problem(number, TODAY) == reason
    assert is_valid_resident_id(number, TODAY) is (reason is None)


def test_without_today_a_future_birth_date_is_not_checked_but_a_bad_one_is() -> None:
    assert resident_id_problem("330424209912310017") is None
    assert resident_id_problem("110105200002300015") == "birth_date"
    assert is_valid_resident_id("11010519491231002x")


def test_check_character_and_normal_form() -> None:
    assert resident_id_check_character("11010519491231002") == "X"
    assert resident_id_check_character("33042419900101123") == "9"
    assert normalize_resident_id(" 11010519491231002x ") == "11010519491231002X"


@pytest.mark.parametrize(("code", "valid"), USCCS)
def test_uscc(code: str, valid: bool) -> None:
    assert is_valid_uscc(code) is valid


@pytest.mark.parametrize(("number", "valid"), MOBILES)
def test_mobile(number: str, valid: bool) -> None:
    assert is_mainland_mobile(number) is valid


def test_the_javascript_mirror_gives_the_same_verdicts() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = f"""
import * as v from {json.dumps(VALIDATORS_JS.as_uri())};
const table = JSON.parse(process.argv[1]);
const today = new Date({TODAY.year}, {TODAY.month - 1}, {TODAY.day});
console.log(JSON.stringify({{
  ids: table.ids.map((n) => v.residentIdProblem(n, today)),
  valid: table.ids.map((n) => v.isValidResidentId(n, today)),
  uscc: table.uscc.map((c) => v.isValidUscc(c)),
  mobile: table.mobile.map((m) => v.isMainlandMobile(m)),
}}));
"""
    table = {"ids": [n for n, _ in RESIDENT_IDS], "uscc": [c for c, _ in USCCS],
             "mobile": [m for m, _ in MOBILES]}
    done = subprocess.run([node, "--input-type=module", "-e", script, json.dumps(table)],
                          capture_output=True, text=True, timeout=60, check=True)
    verdicts = json.loads(done.stdout)
    assert verdicts["ids"] == [reason for _, reason in RESIDENT_IDS]
    assert verdicts["valid"] == [reason is None for _, reason in RESIDENT_IDS]
    assert verdicts["uscc"] == [valid for _, valid in USCCS]
    assert verdicts["mobile"] == [valid for _, valid in MOBILES]
