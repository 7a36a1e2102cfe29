// loader: writes each patch to a path never used before, loads it through jank's registry,
// checks that the var now holds the new function, and reads an expression's value back. A
// patch this page loaded before (undo, or a version from the build cache) is bound again from
// the module it still has: emscripten never unloads a module, and dlopen of a path it has seen
// returns it.

let loadCount = 0;
// Patch id -> the FS path its module was loaded from in this page.
const loadedPaths = new Map();

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

// The object var `v` holds now (nil when it does not exist).
function varRoot(M, v) {
  return withCStrings(M, [v.ns, v.name], (ns, name) => M._jank_deref_var(ns, name));
}

// Calls the zero-argument function in var `v`; the result is a jank object.
function callVar(M, v) {
  return M._jank_call0(varRoot(M, v));
}

// The printed value of calling the zero-argument var `v` (`str` when the main module has no
// `jank_to_code_string`, as the jank fork's has not).
function readValue(M, api, v) {
  return M.UTF8ToString(M[api.printer](callVar(M, v)));
}

// Why the registry refused a patch, if it can say.
function registryError(M, api, rc) {
  const why = api.lastError ? M.UTF8ToString(M._jank_hot_reload_last_error()) : '';
  if (why) return why;
  return 'jank_hot_reload_load_patch returned ' + rc +
    (api.lastError ? '' : ' (the main module has no jank_hot_reload_last_error: the registry gave no reason)');
}

// -> {id, ok, load_ms, value?, output?, rebound?, error?}
async function loadPatch(M, api, header, bytes) {
  const loadedBefore = loadedPaths.get(header.id);
  // A path dlopen has seen returns the old module: every new load gets its own.
  const path = loadedBefore || '/jank_patch_' + header.id + '_' + ++loadCount + '.wasm';
  const started = performance.now();
  const result = { id: header.id, ok: false, load_ms: 0 };
  try {
    if (api.required.length) {
      throw new Error('the main module lacks ' + api.required.join(', ') +
        '; link it with the flags `jank-hotpatch link-flags` prints');
    }
    if (!loadedBefore && bytes.length > env.syncLoadLimit) {
      if (!M.jankLoadWebAssemblyModule) {
        throw new Error('the patch is ' + bytes.length + ' bytes, above what the browser compiles synchronously, and ' +
          'the main module has no jankLoadWebAssemblyModule (link it with the --post-js of `jank-hotpatch link-flags`)');
      }
      M.jankPreloadedWasm[path] = await M.jankLoadWebAssemblyModule(bytes);
    }
    const before = varRoot(M, header.var);
    if (!loadedBefore) M.FS.writeFile(path, bytes);
    const loaded = output.capture(() =>
      M.ccall('jank_hot_reload_load_patch', 'number', ['string', 'string'], [path, header.entry]),
    );
    const rc = loaded.result;
    result.load_ms = performance.now() - started;
    if (loaded.lines.length) result.output = loaded.lines;
    if (rc !== 0) {
      result.error = registryError(M, api, rc);
      return result;
    }
    // The fork's registry returns 0 even when it registered nothing.
    if (varRoot(M, header.var) === before) {
      result.error = 'jank_hot_reload_load_patch returned 0 but ' + varKey(header.var) +
        ' does not hold the new function: the registry bound nothing' +
        (api.lastError ? '' : ' and gave no reason (the main module has no jank_hot_reload_last_error)');
      return result;
    }
    result.ok = true;
    if (loadedBefore) result.rebound = true;
    loadedPaths.set(header.id, path);
    if (header.kind === 'Expression') {
      const evaluated = output.capture(() => readValue(M, api, header.var));
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
      if (M.jankPreloadedWasm) delete M.jankPreloadedWasm[path];
      try {
        M.FS.unlink(path);
      } catch (_) {
        /* never written */
      }
    }
  }
  return result;
}
