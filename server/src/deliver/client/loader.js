// loader: waits for the main module, writes each patch to a path never used before, loads
// it through jank's registry, and reads an expression's value back. A patch this page loaded
// before (undo, or a version from the build cache) is bound again from the module it still
// has: emscripten never unloads a module, and dlopen of a path it has seen returns it.

let loadCount = 0;
// Patch id -> the FS path its module was loaded from in this page.
const loadedPaths = new Map();

function runtimeReady() {
  return new Promise((resolve) => {
    const check = () => (window.Module && window.Module.calledRun ? resolve(window.Module) : setTimeout(check, 10));
    check();
  });
}

function withCStrings(M, strings, body) {
  const pointers = strings.map((s) => {
    const size = M.lengthBytesUTF8(s) + 1;
    const p = M._malloc(size);
    M.stringToUTF8(s, p, size);
    return p;
  });
  try {
    return body(...pointers);
  } finally {
    pointers.forEach((p) => M._free(p));
  }
}

// Calls the zero-argument function in var `v`; the result is a jank object.
function callVar(M, v) {
  return withCStrings(M, [v.ns, v.name], (ns, name) => M._jank_call0(M._jank_deref(M._jank_var_intern_c(ns, name))));
}

// The printed value of calling the zero-argument var `v`.
function readValue(M, v) {
  return M.UTF8ToString(M._jank_to_code_string(callVar(M, v)));
}

// -> {id, ok, load_ms, value?, error?}
async function loadPatch(M, header, bytes) {
  const loadedBefore = loadedPaths.get(header.id);
  // A path dlopen has seen returns the old module: every new load gets its own.
  const path = loadedBefore || '/jank_patch_' + header.id + '_' + ++loadCount + '.wasm';
  const started = performance.now();
  const result = { id: header.id, ok: false, load_ms: 0 };
  try {
    if (!loadedBefore) {
      if (bytes.length > env.syncLoadLimit) {
        M.jankPreloadedWasm[path] = await M.jankLoadWebAssemblyModule(bytes);
      }
      M.FS.writeFile(path, bytes);
    }
    const loaded = output.capture(() =>
      M.ccall('jank_hot_reload_load_patch', 'number', ['string', 'string'], [path, header.entry]),
    );
    const rc = loaded.result;
    result.load_ms = performance.now() - started;
    if (loaded.lines.length) result.output = loaded.lines;
    if (rc !== 0) {
      result.error = M.UTF8ToString(M._jank_hot_reload_last_error()) || 'jank_hot_reload_load_patch returned ' + rc;
      return result;
    }
    result.ok = true;
    if (loadedBefore) result.rebound = true;
    loadedPaths.set(header.id, path);
    if (header.kind === 'Expression') {
      const evaluated = output.capture(() => readValue(M, header.var));
      result.value = evaluated.result;
      if (evaluated.lines.length) result.output = (result.output || []).concat(evaluated.lines);
    }
  } catch (e) {
    result.load_ms = performance.now() - started;
    result.ok = false;
    result.error = String((e && e.message) || e);
  } finally {
    // The module is instantiated by now; the file and the preload entry only cost memory.
    if (!loadedBefore) {
      delete M.jankPreloadedWasm[path];
      try {
        M.FS.unlink(path);
      } catch (_) {
        /* never written */
      }
    }
  }
  return result;
}
