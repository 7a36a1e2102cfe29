// hud: the heads-up display for failed loads and the "patched" flash. Elements have fixed
// ids and are replaced whole, so redrawing is always safe; all styling is in hud.css.

const hud = {
  ids: {
    style: 'jank-hotpatch-style',
    errors: 'jank-hotpatch-hud',
    flash: 'jank-hotpatch-flash',
    status: 'jank-hotpatch-status',
  },
  flashTimer: null,

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

  // failures: [{form, var, message, file, line}]; title: what it means for the page.
  showErrors(failures, title) {
    const box = this.node('div', 'jank-hotpatch-hud');
    box.setAttribute('role', 'alert');
    box.appendChild(this.node('div', 'jank-hotpatch-title', title));
    for (const f of failures) {
      const item = this.node('div', 'jank-hotpatch-failure');
      item.appendChild(this.node('div', 'jank-hotpatch-var', f.var));
      item.appendChild(this.node('pre', 'jank-hotpatch-message', f.message));
      item.appendChild(this.node('div', 'jank-hotpatch-where', f.file + ':' + f.line));
      item.appendChild(this.node('pre', 'jank-hotpatch-form', f.form));
      box.appendChild(item);
    }
    const close = this.node('button', 'jank-hotpatch-close', '×');
    close.title = 'Hide (the next patch shows it again if it fails)';
    close.onclick = () => this.clearErrors();
    box.appendChild(close);
    this.replace(this.ids.errors, box);
  },

  clearErrors() {
    this.replace(this.ids.errors, null);
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
