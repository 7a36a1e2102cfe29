// output: what jank code prints in the page (stdout, through emscripten's Module.print)
// while a patch loads or an expression runs, kept for the ack so that the editor shows it.
// Lines still go to the console. The hook must be in place before the main module starts
// (emscripten reads Module.print once): load this client before app.js.

const output = {
  lines: null,
  maxLines: 200,
  maxLineLength: 1000,
  dropped: 0,

  install() {
    window.Module = window.Module || {};
    const original = window.Module.print || console.log.bind(console);
    window.Module.print = (text) => {
      this.take(String(text));
      original(text);
    };
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
    }
  },
};
output.install();
