// Mirrors signaling/matters/validators.py so forms can explain mistakes before sending;
// the server's verdict is the one that counts.

const USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
const USCC_SHAPE = /^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$/;
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = "10X98765432";

/** Upper case, without spaces or dashes people type to group the characters. */
export function normalizeUscc(code) {
  return (code || "").replace(/[\s-]/g, "").toUpperCase();
}

/** The GB 32100 check character for the first 17 characters of a code. */
export function usccCheckCharacter(first17) {
  let total = 0;
  for (let i = 0; i < 17; i++) total += USCC_ALPHABET.indexOf(first17[i]) * USCC_WEIGHTS[i];
  return USCC_ALPHABET[(31 - (total % 31)) % 31];
}

/** True for a unified social credit code with a correct GB 32100 check character. */
export function isValidUscc(code) {
  code = (code || "").trim().toUpperCase();
  if (!USCC_SHAPE.test(code)) return false;
  return usccCheckCharacter(code) === code[17];
}

/**
 * Why a code is not valid, so a form can say which mistake it is:
 * null (valid), "empty", "length", "characters" (I, O, S, V, Z or symbols; digits 3-8
 * must be a region code) or "check_digit" (a typo somewhere: the last character does not match).
 */
export function usccProblem(code) {
  code = normalizeUscc(code);
  if (!code) return "empty";
  if (code.length !== 18) return "length";
  if (!USCC_SHAPE.test(code)) return "characters";
  return usccCheckCharacter(code) === code[17] ? null : "check_digit";
}

/** True for an 11-digit mainland mobile number. */
export function isMainlandMobile(number) {
  return /^1[3-9]\d{9}$/.test((number || "").trim());
}

/** True for an 18-character mainland resident ID with a correct GB 11643 check character. */
export function isValidResidentId(number) {
  number = (number || "").trim().toUpperCase();
  if (!/^\d{17}[\dX]$/.test(number)) return false;
  let total = 0;
  for (let i = 0; i < 17; i++) total += Number(number[i]) * ID_WEIGHTS[i];
  return ID_CHECK[total % 11] === number[17];
}
