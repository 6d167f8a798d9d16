// Simplified Chinese by default, English on request; one dictionary per page.
//
// Elements carry data-i18n="key" (text), data-i18n-label="key" (aria-label) or
// data-i18n-placeholder="key". The chosen language lives in memory only, so a kiosk's
// privacy reset returns it to Chinese. Components that render text themselves listen
// for the "change" event and render again.

export class I18n extends EventTarget {
  constructor(dictionary, language = "zh-CN") {
    super();
    this.dictionary = dictionary;
    this.language = language;
  }

  /** The text of `key` in the current language, with `{name}` placeholders filled. */
  t(key, values = {}) {
    const entry = this.dictionary[key];
    let text = entry ? entry[this.language] ?? entry["zh-CN"] : key;
    for (const [name, value] of Object.entries(values)) {
      text = text.replaceAll(`{${name}}`, String(value));
    }
    return text;
  }

  /** Whether the dictionary knows `key` (for optional texts such as error codes). */
  has(key) {
    return Object.prototype.hasOwnProperty.call(this.dictionary, key);
  }

  set(language, root = document) {
    const changed = language !== this.language;
    this.language = language;
    document.documentElement.lang = language;
    this.apply(root);
    if (changed) this.dispatchEvent(new CustomEvent("change", { detail: language }));
  }

  apply(root = document) {
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = this.t(el.dataset.i18n);
    for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", this.t(el.dataset.i18nLabel));
    for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.setAttribute("placeholder", this.t(el.dataset.i18nPlaceholder));
  }
}
