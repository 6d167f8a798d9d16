// Matters (skills) from GET /api/skills as big picture buttons, data-testid="matter-<code>".
//
// mode "go": a tap picks at once (kiosk). mode "select": a tap selects (aria-pressed) and
// the page's call button goes (enterprise). Dispatches "pick" {skill}.

import { icon } from "./icons.js";
import { skillName } from "./format.js";

/** The service catalog; throws when the server cannot be reached. */
export async function loadSkills() {
  const response = await fetch("/api/skills", { cache: "no-store" });
  if (!response.ok) throw new Error(`GET /api/skills: HTTP ${response.status}`);
  const body = await response.json();
  return body.skills || [];
}

export class MatterPicker extends EventTarget {
  constructor(container, i18n, { mode = "go" } = {}) {
    super();
    this.container = container;
    this.i18n = i18n;
    this.mode = mode;
    this.skills = [];
    this.selected = null;
    i18n.addEventListener("change", () => this._labels());
  }

  render(skills) {
    this.skills = skills;
    this.container.replaceChildren();
    for (const skill of skills) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "matter";
      button.dataset.testid = `matter-${skill.code}`;
      button.setAttribute("data-testid", `matter-${skill.code}`);
      button.dataset.skill = skill.code;
      if (this.mode === "select") button.setAttribute("aria-pressed", "false");
      button.innerHTML = `<span class="matter-icon matter-icon--${skill.icon || "dots"}">${icon(skill.icon)}</span><span class="matter-name"></span>`;
      button.addEventListener("click", () => this._pick(skill));
      this.container.append(button);
    }
    this._labels();
  }

  _labels() {
    for (const button of this.container.querySelectorAll(".matter")) {
      const skill = this.skills.find((s) => s.code === button.dataset.skill);
      button.querySelector(".matter-name").textContent = skillName(this.i18n, skill);
    }
  }

  _pick(skill) {
    if (this.mode === "select") {
      this.selected = skill;
      for (const button of this.container.querySelectorAll(".matter")) {
        button.setAttribute("aria-pressed", String(button.dataset.skill === skill.code));
      }
    }
    this.dispatchEvent(new CustomEvent("pick", { detail: { skill } }));
  }

  clear() {
    this.selected = null;
    for (const button of this.container.querySelectorAll(".matter")) {
      if (this.mode === "select") button.setAttribute("aria-pressed", "false");
    }
  }
}
