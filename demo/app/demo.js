// The demo app: a ball whose speed, size, colour and label come from jank functions
// (demo.core), called through jank's C API in the main module. The ball's position and the
// click count live here in the page, so they survive every patch. Every call into jank goes
// through `guarded`: jank code can throw (a patch that divides by zero), and then the error is
// reported to the editor and the loop and the button go on; the next good patch takes over.
'use strict';

window.Module = window.Module || {};

const demo = {
  // Page state: never reset by a patch.
  state: { x: 40, y: 60, dx: 1, dy: 1, clicks: 0 },
  // What the jank functions returned last; read again after patches or on a click.
  values: null,
  stale: true,
  vars: {},
  // Frames drawn with jank's values (none while its code fails).
  frames: 0,
};
window.demoApp = demo;

const jank = {
  var(name) {
    if (!demo.vars[name]) {
      demo.vars[name] = window.Module._jank_var_intern_c(cString('demo.core'), cString(name));
    }
    return demo.vars[name];
  },
  // The function the var holds now, or 0 while no code has been loaded for it.
  fn(name) {
    const f = window.Module._jank_deref(jank.var(name));
    return f && window.Module._jank_truthy(f) ? f : 0;
  },
  integer(name, ...args) {
    return Number(window.Module._jank_to_integer(jank.call(name, args)));
  },
  string(name, ...args) {
    return window.Module.UTF8ToString(window.Module._jank_to_string(jank.call(name, args)));
  },
  call(name, args) {
    const M = window.Module;
    const f = jank.fn(name);
    if (args.length === 0) return M._jank_call0(f);
    return M._jank_call1(f, M._jank_integer_create(BigInt(args[0])));
  },
};

// C strings the page keeps for its lifetime (var names).
function cString(s) {
  const M = window.Module;
  const size = M.lengthBytesUTF8(s) + 1;
  const p = M._malloc(size);
  M.stringToUTF8(s, p, size);
  return p;
}

const NAMES = ['speed', 'radius', 'color', 'label'];

// Runs `fn`, a call into jank. With the hot-patch client in the page, an error it throws is
// reported to the editor (and the page's HUD) and `null` comes back; without it (a build
// shipped without the client), it is logged. Either way the caller goes on.
function guarded(where, fn) {
  const client = window.jankHotpatch;
  if (client && client.call) return client.call(fn, null, where);
  try {
    return fn();
  } catch (e) {
    console.error('jank code threw in ' + where, e);
    return null;
  }
}

// Calls into jank only when something they depend on changed (a batch of patches, a
// click): the stand-in runtime never frees, and 60 calls a second would only fill memory.
// Code that throws is called again on the next frame, until a patch fixes it.
function readValues() {
  if (!demo.stale) return demo.values;
  if (!NAMES.every((name) => jank.fn(name))) return null;
  const values = guarded('the animation frame', () => ({
    speed: jank.integer('speed'),
    radius: jank.integer('radius'),
    ...looks(),
  }));
  demo.stale = values === null;
  demo.values = values;
  return values;
}

// What depends on the click count.
function looks() {
  return { color: jank.string('color', demo.state.clicks), label: jank.string('label', demo.state.clicks) };
}

function frame() {
  const M = window.Module;
  const values = M && M.calledRun ? readValues() : null;
  const status = document.getElementById('status');
  const failing = demo.stale && demo.values === null && NAMES.every((name) => M && M.calledRun && jank.fn(name));
  show(status, values ? 'running jank code' : failing ? 'jank code failed (see your editor)' : 'waiting for jank code…');
  const className = values ? 'status' : 'status waiting';
  if (status.className !== className) status.className = className;
  if (values) {
    draw(values);
    demo.frames += 1;
  }
  requestAnimationFrame(frame);
}

function draw(values) {
  const canvas = document.getElementById('stage');
  const ctx = canvas.getContext('2d');
  const s = demo.state;
  const r = Math.max(2, Math.min(values.radius, 100));
  s.x += s.dx * values.speed;
  s.y += s.dy * values.speed;
  if (s.x < r || s.x > canvas.width - r) s.dx = -s.dx;
  if (s.y < r || s.y > canvas.height - r) s.dy = -s.dy;
  s.x = Math.max(r, Math.min(s.x, canvas.width - r));
  s.y = Math.max(r, Math.min(s.y, canvas.height - r));
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = values.color;
  ctx.beginPath();
  ctx.arc(s.x, s.y, r, 0, 2 * Math.PI);
  ctx.fill();
  show(document.getElementById('label'), values.label);
}

// Writes the element's text only when it changes: a write every frame would lay out and
// paint the page again 60 times a second for nothing.
function show(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

document.getElementById('clicker').addEventListener('click', () => {
  demo.state.clicks += 1;
  // The colour and label follow the count at once, read here in the handler.
  const now = demo.values && guarded('the click handler', looks);
  if (now) Object.assign(demo.values, now);
  else demo.stale = true;
});
// The hot-patch client's after-load hook: new code landed, read the values again.
window.addEventListener('jank-hotpatch:after-load', () => {
  demo.stale = true;
});
requestAnimationFrame(frame);
