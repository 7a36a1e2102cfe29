// loader: writes each patch to a path never used before, loads it through jank's registry,
// checks that the var now holds the new function, and reads an expression's value back.

let loadCount = 0;

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

// The printed value of calling the zero-argument var `v` (`str` when the main module has no
// `jank_to_code_string`, as the jank fork's has not).
function readValue(M, api, v) {
  return M.UTF8ToString(M[api.printer](M._jank_call0(varRoot(M, v))));
}

// Why the registry refused a patch, if it can say.
function registryError(M, api, rc) {
  const why = api.lastError ? M.UTF8ToString(M._jank_hot_reload_last_error()) : '';
  if (why) return why;
  return 'jank_hot_reload_load_patch returned ' + rc +
    (api.lastError ? '' : ' (the main module has no jank_hot_reload_last_error: the registry gave no reason)');
}

// -> {id, ok, load_ms, value?, error?}
async function loadPatch(M, api, header, bytes) {
  // A path dlopen has seen returns the old module: every load gets its own.
  const path = '/jank_patch_' + header.id + '_' + ++loadCount + '.wasm';
  const started = performance.now();
  const result = { id: header.id, ok: false, load_ms: 0 };
  try {
    if (api.required.length) {
      throw new Error('the main module lacks ' + api.required.join(', ') +
        '; link it with the flags `jank-hotpatch link-flags` prints');
    }
    if (bytes.length > env.syncLoadLimit) {
      if (!M.jankLoadWebAssemblyModule) {
        throw new Error('the patch is ' + bytes.length + ' bytes, above what the browser compiles synchronously, and ' +
          'the main module has no jankLoadWebAssemblyModule (link it with the --post-js of `jank-hotpatch link-flags`)');
      }
      M.jankPreloadedWasm[path] = await M.jankLoadWebAssemblyModule(bytes);
    }
    const before = varRoot(M, header.var);
    M.FS.writeFile(path, bytes);
    const rc = M.ccall('jank_hot_reload_load_patch', 'number', ['string', 'string'], [path, header.entry]);
    result.load_ms = performance.now() - started;
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
    if (header.kind === 'Expression') result.value = readValue(M, api, header.var);
  } catch (e) {
    result.load_ms = performance.now() - started;
    result.ok = false;
    result.error = String((e && e.message) || e);
  } finally {
    // The module is instantiated by now; the file and the preload entry only cost memory.
    if (M.jankPreloadedWasm) delete M.jankPreloadedWasm[path];
    try {
      M.FS.unlink(path);
    } catch (_) {
      /* never written */
    }
  }
  return result;
}
