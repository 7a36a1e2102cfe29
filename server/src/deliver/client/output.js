// output: what jank code prints in the page (stdout, through emscripten's Module.print)
// while a patch loads or an expression runs, kept for the ack so that the editor shows it.
// Lines still go to the console, in order; a captured one when the page is next idle: a
// console write is an IPC to the browser process, which on the patch's path competed with the
// ack (the editor has the lines from the ack already). A main module linked with the client's
// post-js hands each line over itself (`jankHotpatch.printed`), whatever the build; for one
// without it, the client hooks a classic build's global Module.print, which must happen before
// the main module starts (emscripten reads Module.print once): load this client before app.js.
// An ES6/MODULARIZE module without the post-js prints where the app told it to: not captured.

const output = {
  lines: null,
  maxLines: 200,
  maxLineLength: 1000,
  dropped: 0,
  // Console writes waiting for the page to be idle after a capture.
  console: [],

  // A classic build reads the global `Module` it finds; an ES6/MODULARIZE build has none, and
  // must not get one: the global is hooked when the page (or emscripten's code) sets it.
  install() {
    if (window.Module) {
      this.hook(window.Module);
      return;
    }
    let module;
    Object.defineProperty(window, 'Module', {
      configurable: true,
      enumerable: true,
      get: () => module,
      set: (value) => {
        module = value;
        if (value && typeof value === 'object') this.hook(value);
      },
    });
  },

  hooked: new WeakSet(),

  // Once per module: the page may set the global again to the same object.
  hook(M) {
    if (this.hooked.has(M)) return;
    this.hooked.add(M);
    const original = M.print || console.log.bind(console);
    M.print = (text) => {
      // With the post-js, the line has reached `printed` already.
      if (!M.jankPrintHooked) this.take(String(text));
      if (this.lines || this.console.length) this.console.push(() => original(text));
      else original(text);
    };
  },

  writeConsole() {
    const writes = this.console;
    this.console = [];
    writes.forEach((write) => write());
  },

  take(text) {
    if (!this.lines) return;
    if (this.lines.length >= this.maxLines) {
      this.dropped += 1;
      return;
    }
    this.lines.push(text.length > this.maxLineLength ? text.slice(0, this.maxLineLength) + '…' : text);
  },

  // Runs body, returning what it printed (and body's result).
  capture(body) {
    this.lines = [];
    this.dropped = 0;
    try {
      return { result: body(), lines: this.lines };
    } finally {
      if (this.dropped) this.lines.push('… ' + this.dropped + ' more lines');
      this.lines = null;
      if (this.console.length) whenIdle(() => this.writeConsole());
    }
  },
};
// Safari has no requestIdleCallback: the next task there.
const whenIdle = window.requestIdleCallback
  ? (f) => window.requestIdleCallback(f, { timeout: 100 })
  : (f) => setTimeout(f, 0);

output.install();
state.printed = (text) => output.take(String(text));
