// loader: writes each side module to a path never used before, loads each patch through jank's
// registry, checks that the var now holds the new function, and reads an expression's value
// back. The forms of one save share one module: its bytes come once, with the batch's first
// frame of it, and each patch's entry is called from the loaded module. A patch this page
// loaded before (undo, or a version from the build cache) is bound again from the module it
// still has: emscripten never unloads a module, and dlopen of a path it has seen returns it.

let loadCount = 0;
// Module id -> the FS path its bytes were loaded from in this page.
const loadedPaths = new Map();
// Patch ids this page has loaded.
const loadedPatches = new Set();

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
  const loadedBefore = loadedPaths.get(header.module);
  // A path dlopen has seen returns the old module: every new module gets its own.
  const path = loadedBefore || '/jank_patch_' + header.module + '_' + ++loadCount + '.wasm';
  const started = performance.now();
  const result = { id: header.id, ok: false, load_ms: 0 };
  try {
    if (api.required.length) {
      throw new Error('the main module lacks ' + api.required.join(', ') +
        '; link it with the flags `jank-hotpatch link-flags` prints');
    }
    if (!loadedBefore && !bytes.length) {
      throw new Error('side module ' + header.module + ' never reached this page (its first frame did not load)');
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
    // dlopen has the module now (unless the registry failed before loading it, and then
    // loading the path again fails the same way): the batch's other patches use it.
    if (!loadedBefore) {
      loadedPaths.set(header.module, path);
      state.modules += 1;
    }
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
    if (loadedPatches.has(header.id)) result.rebound = true;
    loadedPatches.add(header.id);
    if (header.kind === 'expression') {
      const evaluated = output.capture(() => readValue(M, api, header.var));
      result.value = evaluated.result;
      if (evaluated.lines.length) result.output = (result.output || []).concat(evaluated.lines);
    }
  } catch (e) {
    result.load_ms = performance.now() - started;
    result.ok = false;
    result.error = errors.describe(e).message;
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
