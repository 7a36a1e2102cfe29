// env: what the client reads from the page, its settings, and the state tests read.

const env = {
  // The server puts the token into pages requested with it; the page URL is the fallback.
  token() {
    const meta = document.querySelector('meta[name="jank-hotpatch-token"]');
    return (meta && meta.content) || new URLSearchParams(location.search).get('token') || '';
  },
  socketUrl() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    return scheme + location.host + '/_jank/ws?token=' + encodeURIComponent(this.token());
  },
  // Chromium refuses synchronous compiles of large modules on the main thread.
  syncLoadLimit: 4 * 1024 * 1024,
  backoffMinMs: 100,
  backoffMaxMs: 5000,
  flashMs: 1500,
  // Runtime errors: at most one message per distinct error this often.
  reportMs: 250,
};

// Read by tests and by the app itself; the client writes it, nobody else should.
const state = {
  connected: false,
  // Patch ids loaded in this page, in order.
  applied: [],
  // "ns/name" -> the patch id its root comes from.
  current: {},
  // Patches bound again from a module loaded before (undo), without loading bytes.
  rebinds: 0,
  // Side modules this page loaded (the forms of one save share one).
  modules: 0,
  // "ns/name" of the vars whose journal replay failed when this page (re)connected.
  behind: [],
  lastError: null,
  // What the main module has ({module, missing}) and which build it is ({url, sha256}).
  api: null,
  mainModule: null,
  lastValue: null,
  lastLoadMs: null,
  connections: 0,
  // Errors thrown by jank code (or the app) that reached the client, and the reports sent.
  runtimeErrors: 0,
  runtimeReports: 0,
};
window.jankHotpatch = state;

function varKey(v) {
  return v.ns + '/' + v.name;
}
