// STAND-IN FOR JANK'S RUNTIME (for tests and the demo): not jank. Appended to app.js with
// --post-js: gives the hot-patch client emscripten's own async side-module loader (for
// modules above the browser's synchronous-compile limit) and its table of preloaded modules,
// which dlopen consults before compiling anything itself.
Module['jankLoadWebAssemblyModule'] = function (bytes) {
  return loadWebAssemblyModule(bytes, { loadAsync: true, nodelete: true });
};
Module['jankPreloadedWasm'] = Module['preloadedWasm'];
