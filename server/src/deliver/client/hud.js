// hud: the heads-up display for failing forms and the "patched" flash. It keeps one failure
// per form (by key: "ns/name", or "file:line" for an expression) and is redrawn whole, with
// fixed ids, after every change; all styling is in hud.css.

const hud = {
  ids: { style: 'jank-hotpatch-style', errors: 'jank-hotpatch-hud', flash: 'jank-hotpatch-flash' },
  flashTimer: null,
  // key -> {title, stage, message, file, line, column?, form}
  failures: new Map(),

  replace(id, element) {
    const old = document.getElementById(id);
    if (old) old.remove();
    if (!element) return;
    element.id = id;
    if (!document.getElementById(this.ids.style)) {
      const link = document.createElement('link');
      link.id = this.ids.style;
      link.rel = 'stylesheet';
      link.href = '/_jank/hud.css';
      document.head.appendChild(link);
    }
    document.body.appendChild(element);
  },

  node(tag, className, text) {
    const element = document.createElement(tag);
    element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  },

  fail(key, failure) {
    this.failures.set(key, failure);
    this.draw();
  },

  clear(key) {
    if (this.failures.delete(key)) this.draw();
  },

  draw() {
    if (!this.failures.size) {
      this.replace(this.ids.errors, null);
      return;
    }
    const box = this.node('div', 'jank-hotpatch-hud');
    box.setAttribute('role', 'alert');
    box.appendChild(this.node('div', 'jank-hotpatch-title', 'jank hot-patch failed: the previous code keeps running'));
    for (const f of this.failures.values()) {
      const item = this.node('div', 'jank-hotpatch-failure');
      item.appendChild(this.node('div', 'jank-hotpatch-var', f.title + ' (' + f.stage + ')'));
      item.appendChild(this.node('pre', 'jank-hotpatch-message', f.message));
      const where = f.file + ':' + f.line + (f.column ? ':' + f.column : '');
      item.appendChild(this.node('div', 'jank-hotpatch-where', where));
      item.appendChild(this.node('pre', 'jank-hotpatch-form', f.form));
      box.appendChild(item);
    }
    const close = this.node('button', 'jank-hotpatch-close', '×');
    close.title = 'Hide (the next failure shows it again)';
    close.onclick = () => this.replace(this.ids.errors, null);
    box.appendChild(close);
    this.replace(this.ids.errors, box);
  },

  flash(text) {
    this.replace(this.ids.flash, this.node('div', 'jank-hotpatch-flash', text));
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => this.replace(this.ids.flash, null), env.flashMs);
  },
};
