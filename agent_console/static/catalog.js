// The service catalog in the agent's language: the routing skills (GET /api/skills) for
// queues and invites, and the matters under them (GET /api/catalog) for the call's forms.

export class Catalog {
  constructor(i18n) {
    this.i18n = i18n;
    this.skills = new Map();
    this.categories = [];
    this.matters = new Map();
    this.materials = new Map();
  }

  async load(api) {
    const data = await api.skills();
    this.skills = new Map(data.skills.map((skill) => [skill.code, skill]));
  }

  /** Categories → matters, material kinds (GET /api/catalog); a console without it still takes calls. */
  async loadMatters(api) {
    const data = await api.catalog();
    this.categories = [...data.categories].sort((a, b) => (a.sort_order ?? 0) - (b.sort_order ?? 0));
    this.matters = new Map();
    for (const category of this.categories) {
      for (const matter of category.matters) this.matters.set(matter.code, { ...matter, category: category.code });
    }
    this.materials = new Map(data.materials.map((kind) => [kind.code, kind]));
  }

  /** The matter's name, or its code when the catalog does not know it (yet). */
  name(code) {
    const skill = this.skills.get(code);
    if (!skill) {
      const category = this.categories.find((c) => c.code === code);
      return category ? this.text(category.name) : code || "";
    }
    return this.i18n.language === "en" ? skill.name_en : skill.name_zh;
  }

  /** Catalog order, limited to `codes` when given. */
  list(codes = null) {
    const all = [...this.skills.values()];
    return codes ? all.filter((skill) => codes.includes(skill.code)) : all;
  }

  /** A {zh, en} text of the catalog in the agent's language. */
  text(value) {
    if (!value) return "";
    if (typeof value === "string") return value;
    return (this.i18n.language === "en" ? value.en : value.zh) || value.zh || value.en || "";
  }

  matterTitle(code) {
    const matter = this.matters.get(code);
    return matter ? this.text(matter.title) : code || "";
  }

  materialName(code) {
    if (code === "signature" || code === "other") return this.i18n.t(`material.kind.${code}`);
    const kind = this.materials.get(code);
    return kind ? this.text(kind.name) : code || "";
  }
}
