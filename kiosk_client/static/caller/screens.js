// One visible screen at a time: sections marked data-screen="name" under a root.
//
// Showing a screen hides the others (the `hidden` attribute, so they leave the
// accessibility tree too), moves keyboard focus to its first heading for screen readers,
// and records the name on <body data-screen> for CSS (the top bar hides during a call).

export class Screens extends EventTarget {
  constructor(root = document) {
    super();
    this.sections = new Map();
    for (const el of root.querySelectorAll("[data-screen]")) this.sections.set(el.dataset.screen, el);
    this.current = null;
  }

  show(name, { focus = true } = {}) {
    if (!this.sections.has(name)) throw new Error(`no screen ${name}`);
    const previous = this.current;
    for (const [key, el] of this.sections) el.hidden = key !== name;
    this.current = name;
    document.body.dataset.screen = name;
    if (focus) {
      const target = this.sections.get(name).querySelector("[data-autofocus], h1, h2");
      if (target) {
        if (!target.hasAttribute("tabindex") && !/^(BUTTON|INPUT|A)$/.test(target.tagName)) target.setAttribute("tabindex", "-1");
        target.focus({ preventScroll: true });
      }
    }
    window.scrollTo(0, 0);
    if (previous !== name) this.dispatchEvent(new CustomEvent("change", { detail: { name, previous } }));
  }

  is(...names) {
    return names.includes(this.current);
  }
}
