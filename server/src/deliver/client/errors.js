// errors: errors thrown while jank code runs in the page, brought back to the sidecar. They are
// caught where the app calls jank (`jankHotpatch.call`), or reach `window` uncaught (an event
// handler, a timer, a promise). Each distinct error (its message and the patch that raised it)
// is one report with a count: sent at once the first time, then at most every `env.reportMs`
// while its count grows; a batch of patches that loads starts over (the new code may have
// fixed it: an error that goes on is reported again).

// The side modules' functions: `jank_<ns>_<name>_<patch id>` and `jank_anon_<patch id>_<n>`.
const PATCHED_FUNCTION = /^jank_(?:anon_(\d+)_\d+|.*_(\d+))$/;
// Chromium's wasm frames: "    at NAME (wasm://wasm/4f1c2d3e:wasm-function[12]:0x3f)".
const WASM_FRAME = /^\s*at (\S+) \(wasm:/;

const errors = {
  // key -> {key, message, where, origin, count, sent, patch?, function?, var?, file?, line?, form?, after?}
  reports: new Map(),
  maxReports: 32,
  maxMessage: 2000,
  timer: null,
  // Patch id -> {var, file, line, form}, for every patch this page loaded.
  patches: new Map(),
  // The last batch that loaded: {vars, at}.
  lastBatch: null,

  // What was thrown, in jank's words. A C++ exception arrives as a number (its address): the
  // post-js reads its message and kept the stack at the throw; a trap in wasm (jank's integer
  // division by zero) is a WebAssembly.RuntimeError with its own stack.
  describe(thrown) {
    const M = runtime.module;
    if (typeof thrown === 'number' && M) {
      const last = M.jankLastThrow && M.jankLastThrow.ptr === thrown ? M.jankLastThrow.stack : '';
      const message = M.jankExceptionMessage
        ? M.jankExceptionMessage(thrown)
        : 'a C++ exception (the main module has no jankExceptionMessage: link it with the --post-js of `jank-hotpatch link-flags`)';
      return { message, stack: last, jank: true };
    }
    const message = String((thrown && thrown.message) || thrown);
    const stack = (thrown && thrown.stack) || '';
    return { message, stack, jank: thrown instanceof WebAssembly.RuntimeError || /\(wasm:/.test(stack) };
  },

  // The innermost patched function on the stack, if any.
  culprit(stack) {
    for (const line of stack.split('\n')) {
      const frame = WASM_FRAME.exec(line);
      const named = frame && PATCHED_FUNCTION.exec(frame[1]);
      if (named) return { patch: Number(named[1] || named[2]), function: frame[1] };
    }
    return null;
  },

  // Runs `fn` (a call into jank); on an error, reports it and returns `fallback`.
  call(fn, fallback, where) {
    const M = runtime.module;
    // A throw leaves emscripten's stack pointer where it was: put it back for the next call.
    const stack = M && M.stackSave ? M.stackSave() : null;
    try {
      return fn();
    } catch (e) {
      if (stack !== null) M.stackRestore(stack);
      this.report(e, where || 'a call into jank');
      return fallback;
    }
  },

  report(thrown, where) {
    state.runtimeErrors += 1;
    const d = this.describe(thrown);
    const culprit = d.jank ? this.culprit(d.stack) : null;
    const origin = d.jank ? 'jank' : 'app';
    const message = d.message.length > this.maxMessage ? d.message.slice(0, this.maxMessage) + '…' : d.message;
    const key = origin + ' ' + (culprit ? culprit.patch : '-') + ' ' + message;
    let r = this.reports.get(key);
    if (!r) {
      if (this.reports.size >= this.maxReports) return;
      r = { key, message, where, origin, count: 0, sent: 0 };
      if (culprit) Object.assign(r, culprit, this.patches.get(culprit.patch));
      else if (this.lastBatch) r.after = { vars: this.lastBatch.vars, ms: performance.now() - this.lastBatch.at };
      this.reports.set(key, r);
      console.error('jank-hotpatch: ' + this.title(r) + ' threw in ' + where + ': ' + message + (d.stack ? '\n' + d.stack : ''));
    }
    r.count += 1;
    if (r.count === 1 && !this.timer) this.flush();
    if (!this.timer) this.timer = setTimeout(() => this.flush(), env.reportMs);
  },

  title(r) {
    if (r.var) return r.var;
    return r.origin === 'app' ? "the app's own code" : 'jank code (no patched function on the stack)';
  },

  // One message per error whose count changed since the last.
  flush() {
    this.timer = null;
    for (const r of this.reports.values()) {
      if (r.count === r.sent) continue;
      r.sent = r.count;
      const message = { op: 'runtime_error', key: r.key, message: r.message, where: r.where, origin: r.origin, count: r.count };
      if (r.patch !== undefined) message.patch = r.patch;
      if (r.after) message.after = { vars: r.after.vars, ms: r.after.ms };
      socket.send(message, socket.generation);
      state.runtimeReports += 1;
      const where = r.file ? { file: r.file, line: r.line } : {};
      hud.fail('runtime ' + r.key, { title: this.title(r), stage: 'runtime, ×' + r.count, message: r.message, form: r.form, ...where });
    }
  },

  // A new connection: the sidecar knows nothing of this page's errors yet.
  resend() {
    this.reports.forEach((r) => (r.sent = 0));
    if (this.reports.size && !this.timer) this.timer = setTimeout(() => this.flush(), env.reportMs);
  },

  // A batch of patches loaded: remember its patches, and start the errors over.
  loaded(headers, results) {
    headers.forEach((h, i) => {
      if (results[i].ok) this.patches.set(h.id, { var: varKey(h.var), file: h.origin.file, line: h.origin.line, form: h.origin.form });
    });
    this.lastBatch = { vars: headers.map((h) => varKey(h.var)), at: performance.now() };
    if (!this.reports.size) return;
    const keys = Array.from(this.reports.keys());
    keys.forEach((key) => hud.clear('runtime ' + key));
    this.reports.clear();
    clearTimeout(this.timer);
    this.timer = null;
    socket.send({ op: 'runtime_clear', keys }, socket.generation);
  },
};

window.addEventListener('error', (event) => errors.report(event.error !== undefined ? event.error : event.message, 'an uncaught error'));
window.addEventListener('unhandledrejection', (event) => errors.report(event.reason, 'a promise'));
state.call = (fn, fallback, where) => errors.call(fn, fallback, where);
