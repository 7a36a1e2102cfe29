// The browser client's --post-js for a main module (written by `jank-hotpatch link-flags --post-js
// FILE`, linked into the stand-in runtime by the main-module builder): gives the browser
// client emscripten's own async side-module loader, for patches above the browser's
// synchronous-compile limit, and its table of preloaded modules, which dlopen consults before
// compiling anything itself; and hands it what jank code prints.
Module['jankLoadWebAssemblyModule'] = function (bytes) {
  return loadWebAssemblyModule(bytes, { loadAsync: true, nodelete: true });
};
Module['jankPreloadedWasm'] = Module['preloadedWasm'];

// What the code prints goes through emscripten's `out`, which it took from Module.print when
// the module started: an ES6/MODULARIZE build's Module is out of the client's reach before
// that, so the client gets each line here (as `jankHotpatch.printed`), for any build.
Module['jankPrintHooked'] = true;
var jankHotpatchOut = out;
out = function (text) {
  var client = globalThis.jankHotpatch;
  if (client && client.printed) client.printed(text);
  jankHotpatchOut(text);
};
