"""Domain validators for Chinese identifiers, shared by the server and the page scripts.

The same algorithms are mirrored in kiosk_client/static/common/validators.js; the server's
verdict is the one that counts.
"""

from __future__ import annotations

import re
from datetime import date

# GB 32100-2015: 31 characters (no I, O, S, V, Z), weights 3^i mod 31.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")

# GB 11643-1999: weights 2^(17-i) mod 11, check characters for sum mod 11.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def uscc_check_character(first17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 are given."""
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True for an 18-character code with the right shape and GB 32100 check character."""
    if not _USCC_SHAPE.match(code):
        return False
    return uscc_check_character(code[:17]) == code[17]


#: GB/T 2260 province-level codes: the first two digits of a resident ID number
PROVINCE_CODES = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55),
     *range(61, 66), 71, 81, 82]
)
#: nobody alive holds a number issued for an earlier birth date
EARLIEST_BIRTH_YEAR = 1900

_RESIDENT_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")


def resident_id_check_character(first17: str) -> str:
    """The 18th character of a resident ID number whose first 17 digits are given."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def normalize_resident_id(number: str) -> str:
    """Without surrounding spaces, with a lower-case check character ``x`` as ``X``."""
    return number.strip().upper()


def resident_id_problem(number: str, today: date | None = None) -> str | None:
    """Why ``number`` is not a valid mainland resident ID number, or ``None`` when it is.

    Reasons, in the order they are checked: ``"empty"``, ``"length"`` (not 18 characters),
    ``"characters"`` (17 digits then a digit or X), ``"region"`` (the first two digits are no
    province code), ``"birth_date"`` (digits 7-14 are no calendar date, or before 1900),
    ``"future_birth_date"`` (after ``today``; not checked when ``today`` is None) and
    ``"check_digit"`` (GB 11643: a typo somewhere).

    A lower-case ``x`` is accepted as the check character: people type it on ordinary
    keyboards and the card says ``X``; store :func:`normalize_resident_id` of the value.
    """
    number = normalize_resident_id(number)
    if not number:
        return "empty"
    if len(number) != 18:
        return "length"
    if not _RESIDENT_ID_SHAPE.match(number):
        return "characters"
    if int(number[:2]) not in PROVINCE_CODES:
        return "region"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "birth_date"
    if born.year < EARLIEST_BIRTH_YEAR:
        return "birth_date"
    if today is not None and born > today:
        return "future_birth_date"
    if resident_id_check_character(number[:17]) != number[17]:
        return "check_digit"
    return None


def is_valid_resident_id(number: str, today: date | None = None) -> bool:
    """True for a mainland resident ID number with no :func:`resident_id_problem`."""
    return resident_id_problem(number, today) is None


def is_mainland_mobile(number: str) -> bool:
    """True for an 11-digit mainland mobile number (1[3-9]xxxxxxxxx)."""
    return bool(_MOBILE.match(number))
