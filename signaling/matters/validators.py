"""Domain validators for Chinese identifiers, shared by the server and the page scripts.

The same algorithms are mirrored in kiosk_client/static/common/validators.js; the server's
verdict is the one that counts.
"""

from __future__ import annotations

import re

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


def is_valid_resident_id(number: str) -> bool:
    """True for an 18-digit mainland resident ID with a correct GB 11643 check character."""
    number = number.upper()
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11] == number[17]


def is_mainland_mobile(number: str) -> bool:
    """True for an 11-digit mainland mobile number (1[3-9]xxxxxxxxx)."""
    return bool(_MOBILE.match(number))
