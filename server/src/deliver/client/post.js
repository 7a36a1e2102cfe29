// The browser client's --post-js for a main module (written by `jank-hotpatch link-flags --post-js
// FILE`, linked into the stand-in runtime by the main-module builder): gives the browser
// client emscripten's own async side-module loader, for patches above the browser's
// synchronous-compile limit, and its table of preloaded modules, which dlopen consults before
// compiling anything itself.
Module['jankLoadWebAssemblyModule'] = function (bytes) {
  return loadWebAssemblyModule(bytes, { loadAsync: true, nodelete: true });
};
Module['jankPreloadedWasm'] = Module['preloadedWasm'];
