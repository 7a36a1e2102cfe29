// main: the table of server ops, patch frames applied in arrival order, the hello, acks and
// the HUD.

const batches = new Map();
let applying = Promise.resolve();

// "ns/name" for a definition, "file:line" for an expression: the sidecar keys failures alike.
function formKey(header) {
  return header.kind === 'expression' ? header.origin.file + ':' + header.origin.line : varKey(header.var);
}

const ops = {
  welcome(message, generation) {
    socket.welcomed();
    errors.resend();
    if (!env.token()) console.warn('jank-hotpatch: this page has no token; open it with the URL the sidecar printed');
    if (message.journal > 0) console.info('jank-hotpatch: catching up on ' + message.journal + ' patches');
    hello(generation);
  },

  // Forms that failed before reaching the page (compile, build, check), and forms fine again.
  failures(message) {
    message.fine.forEach((key) => hud.clear(key));
    for (const f of message.failed) {
      console.error('jank-hotpatch: ' + f.stage + ' of ' + f.key + ' (' + f.file + ':' + f.line + ':' + f.column + ') failed: ' + f.message);
      hud.fail(f.key, { title: f.key, stage: f.stage, message: f.message, file: f.file, line: f.line, column: f.column, form: f.form });
    }
  },
};

// Tells the sidecar, once the main module runs, what it has and which build it is.
async function hello(generation) {
  const { api } = await runtime.ready();
  const identity = state.mainModule || (await runtime.identity());
  const message = { module: api.module, missing: api.missing, main_module_url: identity.url, main_module_sha256: identity.sha256 };
  state.mainModule = identity;
  socket.send({ op: 'hello', api: message }, generation);
}

socket.onText = (text, generation) => {
  let message;
  try {
    message = JSON.parse(text);
  } catch (e) {
    console.error('jank-hotpatch: unreadable message from the sidecar', e);
    return;
  }
  const op = ops[message.op];
  if (op) op(message, generation);
  else console.warn('jank-hotpatch: unknown op ' + message.op);
};

// Frame: u32 header length (big-endian), JSON header, module bytes.
socket.onBinary = (buffer, generation) => {
  const headerLength = new DataView(buffer).getUint32(0);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength)));
  const bytes = new Uint8Array(buffer, 4 + headerLength);
  const received = performance.now();
  applying = applying.then(() => apply(header, bytes, generation, received));
};

// `received`: when the frame reached this page's script; the batch's first frame starts the
// page's own time on the batch (`handled_ms` in the ack).
async function apply(header, bytes, generation, received) {
  const { M, api } = await runtime.ready();
  const batchKey = generation + ':' + header.batch;
  let batch = batches.get(batchKey);
  if (!batch) {
    batch = { headers: [], results: [], hooks: [], received };
    batches.set(batchKey, batch);
    hooks.announce('before-load', [header]);
    batch.hooks = hooks.call(M, header.before_load);
  }
  const key = varKey(header.var);
  // A replay after a reconnect: this page may have the patch already (after an undo, the
  // journal's version can be older than the page's: then the page goes back to it).
  const skip = header.replay && state.current[key] === header.id;
  const result = skip ? { id: header.id, ok: true, load_ms: 0, skipped: true } : await loadPatch(M, api, header, bytes);
  if (result.ok && !skip) {
    state.applied.push(header.id);
    if (result.rebound) state.rebinds += 1;
    if (header.kind === 'definition') {
      state.current[key] = header.id;
      state.behind = state.behind.filter((behind) => behind !== key);
    }
    if ('value' in result) state.lastValue = result.value;
  }
  batch.headers.push(header);
  batch.results.push(result);
  if (batch.results.length < header.count) return;
  batches.delete(batchKey);
  batch.hooks = batch.hooks.concat(hooks.call(M, header.after_load));
  const handled = performance.now() - batch.received;
  socket.send({ op: 'ack', batch: header.batch, results: batch.results, hooks: batch.hooks, handled_ms: handled }, generation);
  report(batch);
  errors.loaded(batch.headers, batch.results);
  hooks.announce('after-load', batch.headers);
}

function report(batch) {
  const failures = [];
  batch.results.forEach((r, i) => {
    const h = batch.headers[i];
    if (r.ok) {
      // A replay is the last good code again, not news of the form: its failure stays.
      if (!h.replay) hud.clear(formKey(h));
      return;
    }
    const f = { title: varKey(h.var), stage: 'load', message: r.error, file: h.origin.file, line: h.origin.line, form: h.origin.form };
    failures.push({ key: formKey(h), failure: f });
  });
  const loaded = batch.results.filter((r) => r.ok && !r.skipped);
  const ms = batch.results.reduce((sum, r) => sum + r.load_ms, 0);
  if (loaded.length) {
    state.lastLoadMs = ms;
    const last = batch.headers[batch.results.lastIndexOf(loaded[loaded.length - 1])];
    hud.status(state.applied.length, varKey(last.var) + ' in ' + ms.toFixed(2) + ' ms');
  }
  if (batch.headers[0].replay) {
    state.behind = failures.map(({ failure }) => failure.title);
    hud.draw();
  }
  failures.forEach(({ key, failure }) => hud.fail(key, failure));
  if (failures.length) {
    state.lastError = failures.map(({ failure }) => failure.title + ': ' + failure.message).join('\n');
    failures.forEach(({ failure: f }) => console.error('jank-hotpatch: loading ' + f.title + ' (' + f.file + ':' + f.line + ') failed: ' + f.message));
    return;
  }
  state.lastError = null;
  if (!loaded.length) return;
  const only = loaded.length === 1 ? batch.headers[batch.results.indexOf(loaded[0])] : null;
  const verb = batch.headers[0].undo ? 'undid ' : 'patched ';
  if (only && only.kind === 'expression') hud.flash('=> ' + loaded[0].value + '  (' + ms.toFixed(2) + ' ms)');
  else hud.flash(verb + (only ? varKey(only.var) : loaded.length + ' forms') + ' in ' + ms.toFixed(2) + ' ms');
}

socket.connect();
