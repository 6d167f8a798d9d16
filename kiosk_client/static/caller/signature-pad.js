// A signature drawn with a finger, pen or mouse on a canvas (pointer events), with
// "清除" (clear) and "完成签名" (done). Done hands the drawing as a PNG blob to the page,
// which uploads it and puts the material id into the form's signature field.
// Dispatches "done" {blob} and "cancel".

export class SignaturePad extends EventTarget {
  constructor(i18n) {
    super();
    this.i18n = i18n;
    this.root = document.createElement("div");
    this.root.className = "signature-pad";
    this.root.dataset.testid = "signature-pad";
    this.hint = document.createElement("p");
    this.hint.className = "signature-hint";
    this.canvas = document.createElement("canvas");
    this.canvas.className = "signature-canvas";
    this.canvas.dataset.testid = "signature-canvas";
    this.canvas.setAttribute("role", "img");
    this.canvas.tabIndex = 0;
    this.error = document.createElement("p");
    this.error.className = "field-error";
    this.error.setAttribute("role", "alert");
    this.error.hidden = true;
    const row = document.createElement("div");
    row.className = "button-row";
    this.clearButton = this._button("signature_clear", "button--secondary", "signature-clear", () => this.clear());
    this.cancelButton = this._button("signature_cancel", "button--link", "signature-cancel", () => {
      this.dispatchEvent(new CustomEvent("cancel"));
    });
    this.doneButton = this._button("signature_done", "button--primary", "signature-done", () => this._done());
    row.append(this.cancelButton, this.clearButton, this.doneButton);
    this.root.append(this.hint, this.canvas, this.error, row);
    this.strokes = 0;
    this.drawing = null;
    this.canvas.addEventListener("pointerdown", (event) => this._down(event));
    this.canvas.addEventListener("pointermove", (event) => this._move(event));
    for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
      this.canvas.addEventListener(type, () => { this.drawing = null; });
    }
    // No scrolling or zooming while signing on a touch screen.
    this.canvas.style.touchAction = "none";
    i18n.addEventListener("change", () => this._texts());
    this._texts();
  }

  _button(key, kind, testid, handler) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `button ${kind}`;
    button.dataset.i18n = key;
    button.dataset.testid = testid;
    button.addEventListener("click", handler);
    return button;
  }

  _texts() {
    this.hint.textContent = this.i18n.t("signature_hint");
    this.canvas.setAttribute("aria-label", this.i18n.t("signature_canvas"));
    for (const el of this.root.querySelectorAll("[data-i18n]")) el.textContent = this.i18n.t(el.dataset.i18n);
    if (!this.error.hidden) this.error.textContent = this.i18n.t(this.errorKey);
  }

  /** Size the canvas to its box (call once it is in the page and visible). */
  open() {
    const box = this.canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(box.width * ratio));
    this.canvas.height = Math.max(1, Math.round(box.height * ratio));
    this.clear();
    this.setBusy(false);
  }

  clear() {
    const context = this.canvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.strokes = 0;
    this.showError(null);
  }

  showError(key) {
    this.errorKey = key;
    this.error.hidden = !key;
    this.error.textContent = key ? this.i18n.t(key) : "";
  }

  setBusy(busy) {
    this.doneButton.disabled = busy;
    this.clearButton.disabled = busy;
    this.doneButton.textContent = this.i18n.t(busy ? "signature_saving" : "signature_done");
  }

  _point(event) {
    const box = this.canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (this.canvas.width / box.width),
      (event.clientY - box.top) * (this.canvas.height / box.height)];
  }

  _down(event) {
    event.preventDefault();
    this.canvas.setPointerCapture?.(event.pointerId);
    this.drawing = this._point(event);
    this.strokes += 1;
    this.showError(null);
    const context = this.canvas.getContext("2d");
    context.fillStyle = "#0d1b2e";
    context.beginPath();
    context.arc(this.drawing[0], this.drawing[1], this._width() / 2, 0, Math.PI * 2);
    context.fill();
  }

  _move(event) {
    if (!this.drawing) return;
    const point = this._point(event);
    const context = this.canvas.getContext("2d");
    context.strokeStyle = "#0d1b2e";
    context.lineWidth = this._width();
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(...this.drawing);
    context.lineTo(...point);
    context.stroke();
    this.drawing = point;
  }

  _width() {
    return Math.max(3, this.canvas.width / 180);
  }

  _done() {
    if (!this.strokes) {
      this.showError("signature_empty");
      return;
    }
    this.canvas.toBlob((blob) => {
      if (blob) this.dispatchEvent(new CustomEvent("done", { detail: { blob } }));
    }, "image/png");
  }
}
