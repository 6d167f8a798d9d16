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

/**
 * True for a unified social credit code with a correct GB 32100 check character, exactly as
 * the server checks it (upper case, no spaces: pass normalizeUscc(code) for typed input).
 */
export function isValidUscc(code) {
  code = code || "";
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

// GB/T 2260 province-level codes: the first two digits of a resident ID number.
const PROVINCE_CODES = new Set([
  11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
  50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
]);
const EARLIEST_BIRTH_YEAR = 1900;

/** The GB 11643 check character for the first 17 digits of a resident ID number. */
export function residentIdCheckCharacter(first17) {
  let total = 0;
  for (let i = 0; i < 17; i++) total += Number(first17[i]) * ID_WEIGHTS[i];
  return ID_CHECK[total % 11];
}

/** Without surrounding spaces, with a lower-case check character x as X (both accepted). */
export function normalizeResidentId(number) {
  return (number || "").trim().toUpperCase();
}

/**
 * Why a resident ID number is not valid, as signaling/matters/validators.py says it:
 * null (valid), "empty", "length", "characters", "region", "birth_date",
 * "future_birth_date" (after `today`, a Date; pass null to skip) or "check_digit".
 */
export function residentIdProblem(number, today = new Date()) {
  number = normalizeResidentId(number);
  if (!number) return "empty";
  if (number.length !== 18) return "length";
  if (!/^\d{17}[\dX]$/.test(number)) return "characters";
  if (!PROVINCE_CODES.has(Number(number.slice(0, 2)))) return "region";
  const year = Number(number.slice(6, 10));
  const month = Number(number.slice(10, 12));
  const day = Number(number.slice(12, 14));
  const born = new Date(Date.UTC(year, month - 1, day));
  if (month < 1 || month > 12 || born.getUTCFullYear() !== year ||
      born.getUTCMonth() !== month - 1 || born.getUTCDate() !== day) return "birth_date";
  if (year < EARLIEST_BIRTH_YEAR) return "birth_date";
  if (today) {
    const todayUtc = Date.UTC(today.getFullYear(), today.getMonth(), today.getDate());
    if (born.getTime() > todayUtc) return "future_birth_date";
  }
  return residentIdCheckCharacter(number) === number[17] ? null : "check_digit";
}

/** True for a mainland resident ID number with no residentIdProblem (as of `today`). */
export function isValidResidentId(number, today = new Date()) {
  return residentIdProblem(number, today) === null;
}
