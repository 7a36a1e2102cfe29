// runtime: finds the jank main module the page runs, either a classic build's global `Module`
// or one the app hands over with `jankHotpatch.attach(moduleOrPromise)` (an ES6/MODULARIZE
// build has no global), and which of the functions the client calls it exports.

// Without these no patch loads: `jank-hotpatch link-flags` prints the link flags that export them.
const REQUIRED = [
  'FS', 'ccall', 'UTF8ToString', 'stringToUTF8', 'lengthBytesUTF8', '_malloc', '_free',
  '_jank_hot_reload_load_patch', '_jank_deref_var', '_jank_truthy', '_jank_call0', '_jank_to_string',
];
// Used when there: the jank fork's main module has neither of the first two, and the last
// comes only with the post-js `link-flags` writes (needed for patches above syncLoadLimit).
const OPTIONAL = ['_jank_to_code_string', '_jank_hot_reload_last_error', 'jankLoadWebAssemblyModule'];

const runtime = {
  attached: null,
  found: null,
  // The main module once it runs (for code that cannot wait for `ready`).
  module: null,

  // For apps whose main module is not the global `Module` (ES6/MODULARIZE builds).
  attach(moduleOrPromise) {
    Promise.resolve(moduleOrPromise).then(
      (M) => (this.attached = M),
      (e) => console.error('jank-hotpatch: the main module handed to attach() failed to start', e)
    );
  },

  // -> {M, api}, once the main module has started.
  ready() {
    if (this.found) return this.found;
    this.found = new Promise((resolve) => {
      const check = () => {
        const M = this.attached || (window.Module && window.Module.calledRun ? window.Module : null);
        if (M) {
          this.module = M;
          resolve({ M, api: this.inspect(M, this.attached ? 'attached' : 'global') });
        }
        else setTimeout(check, 10);
      };
      check();
    });
    return this.found;
  },

  inspect(M, module) {
    const has = (name) => M[name] !== undefined;
    const missing = REQUIRED.concat(OPTIONAL).filter((name) => !has(name));
    const api = {
      module,
      missing,
      required: REQUIRED.filter((name) => !has(name)),
      printer: has('_jank_to_code_string') ? '_jank_to_code_string' : '_jank_to_string',
      lastError: has('_jank_hot_reload_last_error'),
    };
    state.api = { module, missing };
    if (api.required.length) {
      console.error('jank-hotpatch: the main module lacks ' + api.required.join(', ') +
        ': no patch can load; link it with the flags `jank-hotpatch link-flags` prints');
    }
    return api;
  },

  // The main module's .wasm as the page fetched it, and the SHA-256 of its bytes, so that the
  // sidecar can tell which build each page runs.
  async identity() {
    const entry = performance.getEntriesByType('resource').find((e) => /\.wasm($|\?)/.test(e.name));
    if (!entry) return { url: null, sha256: null };
    try {
      const bytes = await (await fetch(entry.name, { cache: 'force-cache' })).arrayBuffer();
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
      return { url: entry.name, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') };
    } catch (e) {
      console.warn('jank-hotpatch: cannot hash the main module', e);
      return { url: entry.name, sha256: null };
    }
  },
};
state.attach = (moduleOrPromise) => runtime.attach(moduleOrPromise);
