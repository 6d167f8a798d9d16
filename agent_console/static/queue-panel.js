// Live waiting calls per matter (queue_snapshot): waiting, longest wait, ready agents.
// A queue whose oldest caller has waited past the answer target is highlighted.

import { h } from "./dom.js";
import { clock } from "./format.js";

export class QueuePanel {
  /**
   * @param {HTMLElement} root  the data-testid="queue-panel" section
   * @param {{i18n: any, catalog: any, targetSeconds: number}} deps
   */
  constructor(root, { i18n, catalog, targetSeconds }) {
    this.root = root;
    this.i18n = i18n;
    this.catalog = catalog;
    this.targetSeconds = targetSeconds;
    this.queues = [];
    this.skills = null;
    this.list = root.querySelector('[data-role="queue-list"]');
    this.empty = root.querySelector('[data-role="queue-empty"]');
    this.total = root.querySelector('[data-role="queue-total"]');
  }

  /** Only the agent's own skills are shown (the profile's skill codes). */
  setSkills(codes) {
    this.skills = codes && codes.length ? new Set(codes) : null;
    this.render();
  }

  update(queues) {
    this.queues = queues || [];
    this.render();
  }

  render() {
    const t = (key, values) => this.i18n.t(key, values);
    const order = new Map(this.catalog.list().map((skill, index) => [skill.code, index]));
    const mine = this.queues
      .filter((q) => !this.skills || this.skills.has(q.skill))
      .sort((a, b) => (b.waiting > 0) - (a.waiting > 0) || b.longest_wait - a.longest_wait
        || (order.get(a.skill) ?? 99) - (order.get(b.skill) ?? 99));
    const waiting = mine.reduce((sum, q) => sum + q.waiting, 0);
    this.total.textContent = t("queue.total", { count: waiting });
    this.total.classList.toggle("pill-alert", mine.some((q) => this._over(q)));
    this.empty.hidden = mine.length > 0;
    this.list.replaceChildren(...mine.map((q) => {
      const over = this._over(q);
      const unstaffed = q.waiting > 0 && q.ready_agents === 0;
      return h("li", {
        class: `queue-row${q.waiting ? " has-waiting" : ""}${over ? " over-target" : ""}${unstaffed ? " unstaffed" : ""}`,
        "data-testid": "queue-row", "data-skill": q.skill, "data-waiting": q.waiting,
        "data-over-target": over ? "true" : "false",
        title: over ? t("queue.over_target", { seconds: this.targetSeconds }) : null,
      },
      h("span", { class: "queue-name" }, this.catalog.name(q.skill)),
      h("span", { class: "queue-waiting", "aria-label": `${t("queue.waiting")} ${q.waiting}` }, String(q.waiting)),
      h("span", { class: "queue-longest", "aria-label": `${t("queue.longest")} ${clock(q.longest_wait)}` }, q.waiting ? clock(q.longest_wait) : "–"),
      h("span", { class: "queue-ready", "aria-label": `${t("queue.ready")} ${q.ready_agents}` }, `${q.ready_agents}/${q.staffed_agents}`));
    }));
  }

  _over(q) {
    return q.waiting > 0 && q.longest_wait > this.targetSeconds;
  }
}
