// Keyboard shortcuts (Alt+letter, by physical key so they work with any input method)
// and the help dialog that documents them.

export class Shortcuts {
  /**
   * @param {Record<string, () => boolean|void>} actions  keyed by KeyboardEvent.code ("KeyA");
   *   an action returning false did not apply and lets the key through
   * @param {() => boolean} enabled  shortcuts apply only while this is true
   */
  constructor(actions, enabled) {
    this.actions = actions;
    this.enabled = enabled;
    window.addEventListener("keydown", (event) => this._onKey(event));
  }

  _onKey(event) {
    if (!event.altKey || event.ctrlKey || event.metaKey || event.repeat || !this.enabled()) return;
    const action = this.actions[event.code];
    if (!action) return;
    if (action() === false) return;
    event.preventDefault();
    event.stopPropagation();
  }
}

export class HelpDialog {
  constructor(dialog, opener) {
    this.dialog = dialog;
    this.opener = opener;
    opener.addEventListener("click", () => this.open());
    dialog.querySelector('[data-role="help-close"]').addEventListener("click", () => this.close());
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) this.close(); // backdrop click
    });
    dialog.addEventListener("close", () => {
      if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus();
    });
  }

  open() {
    if (this.dialog.open) return;
    this.returnFocus = document.activeElement;
    this.dialog.showModal();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }
}
