// Tiny DOM helpers. Text always goes in through textContent: caller labels and company
// names come from the public, so nothing from the server is ever parsed as HTML.

/**
 * Build an element: h("li", {class: "x", dataset: {callId: id}, onclick}, child, "text").
 * Attributes set to null/undefined/false are left out; true sets an empty attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** The element with data-testid `id` inside `root` (throws if the template lacks it). */
export function byTestId(id, root = document) {
  const el = root.querySelector(`[data-testid="${id}"]`);
  if (!el) throw new Error(`template is missing data-testid=${id}`);
  return el;
}

export function show(el, visible = true) {
  el.hidden = !visible;
}

/** Replace `el`'s children; null, undefined and false children are left out (unlike replaceChildren). */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}
