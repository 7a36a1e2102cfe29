// hud: the heads-up display for failing forms, the patch count and the "patched" flash. It
// keeps one failure per form (by key: "ns/name", or "file:line" for an expression; a runtime
// error by "runtime <its key>", with its count) and is
// redrawn whole, with fixed ids, after every change; all styling is in hud.css.

const hud = {
  ids: {
    style: 'jank-hotpatch-style',
    errors: 'jank-hotpatch-hud',
    flash: 'jank-hotpatch-flash',
    status: 'jank-hotpatch-status',
  },
  flashTimer: null,
  // key -> {title, stage, message, file?, line?, column?, form?}
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

  // What the failures mean for the page: a page that could not catch up runs older code.
  title() {
    if (Array.from(this.failures.values()).every((f) => f.stage.startsWith('runtime'))) return 'jank code failed in this page';
    if (state.behind.length) return 'this page could not catch up on ' + state.behind.join(', ') + ': it runs their older code';
    return 'jank hot-patch failed: the previous code keeps running';
  },

  draw() {
    if (!this.failures.size) {
      this.replace(this.ids.errors, null);
      return;
    }
    const box = this.node('div', 'jank-hotpatch-hud');
    box.setAttribute('role', 'alert');
    box.appendChild(this.node('div', 'jank-hotpatch-title', this.title()));
    for (const f of this.failures.values()) {
      const item = this.node('div', 'jank-hotpatch-failure');
      item.appendChild(this.node('div', 'jank-hotpatch-var', f.title + ' (' + f.stage + ')'));
      item.appendChild(this.node('pre', 'jank-hotpatch-message', f.message));
      if (f.file) item.appendChild(this.node('div', 'jank-hotpatch-where', f.file + ':' + f.line + (f.column ? ':' + f.column : '')));
      if (f.form) item.appendChild(this.node('pre', 'jank-hotpatch-form', f.form));
      box.appendChild(item);
    }
    const close = this.node('button', 'jank-hotpatch-close', '×');
    close.title = 'Hide (the next failure shows it again)';
    close.onclick = () => this.replace(this.ids.errors, null);
    box.appendChild(close);
    this.replace(this.ids.errors, box);
  },

  // Collapsed: the number of patches this page loaded; open: the last one's var and time.
  status(count, last) {
    const box = document.createElement('details');
    box.className = 'jank-hotpatch-status';
    box.open = Boolean(document.getElementById(this.ids.status) && document.getElementById(this.ids.status).open);
    box.appendChild(this.node('summary', 'jank-hotpatch-count', 'jank ' + count));
    box.appendChild(this.node('div', 'jank-hotpatch-last', 'last: ' + last));
    box.title = 'patches loaded in this page';
    this.replace(this.ids.status, box);
  },

  flash(text) {
    this.replace(this.ids.flash, this.node('div', 'jank-hotpatch-flash', text));
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => this.replace(this.ids.flash, null), env.flashMs);
  },
};
