// The service catalog's matter names (GET /api/skills), shown in the agent's language.

export class Catalog {
  constructor(i18n) {
    this.i18n = i18n;
    this.skills = new Map();
  }

  async load(api) {
    const data = await api.skills();
    this.skills = new Map(data.skills.map((skill) => [skill.code, skill]));
  }

  /** The matter's name, or its code when the catalog does not know it (yet). */
  name(code) {
    const skill = this.skills.get(code);
    if (!skill) return code || "";
    return this.i18n.language === "en" ? skill.name_en : skill.name_zh;
  }

  /** Catalog order, limited to `codes` when given. */
  list(codes = null) {
    const all = [...this.skills.values()];
    return codes ? all.filter((skill) => codes.includes(skill.code)) : all;
  }
}
