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

// A jank error is a C++ exception (the jank fork links with -fexceptions -frtti). emscripten
// 3.1.6 throws it to JavaScript as a bare number, the exception's address: no message and no
// stack. So the runtime's __cxa_throw is wrapped here, before the instance reads its imports
// (instantiation is asynchronous, and this runs right after it started), to keep for the last
// throw the JavaScript stack at the throw: its wasm frames carry the side modules' function
// names (`jank_<ns>_<name>_<patch id>`), which say which patch raised it. A main module built
// without exceptions has no __cxa_throw, and nothing is wrapped.
if (typeof asmLibraryArg == 'object' && asmLibraryArg['__cxa_throw']) {
  var jankHotpatchThrow = asmLibraryArg['__cxa_throw'];
  asmLibraryArg['__cxa_throw'] = function (ptr, type, destructor) {
    var limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 64;
    Module['jankLastThrow'] = { ptr: ptr, stack: new Error().stack };
    Error.stackTraceLimit = limit;
    return jankHotpatchThrow(ptr, type, destructor);
  };
}

// The message of the C++ exception at `ptr`, as jank prints one it catches: `what()` of a
// std::exception (jank's runtime throws std::runtime_error), called through its vtable (slot 2,
// after the two destructors); any other type is named, without a message. The type comes from
// emscripten's exception header (16 bytes before the object, the type_info at offset 4) and
// its mangled name from the type_info (offset 4).
Module['jankExceptionMessage'] = function (ptr) {
  var type = HEAP32[(ptr - 16 + 4) >> 2];
  var name = type ? UTF8ToString(HEAP32[(type + 4) >> 2]) : '';
  if (/^St\d+\w*(exception|error|argument|out_of_range|length|alloc|cast|typeid)$/.test(name)) {
    var what = wasmTable.get(HEAP32[(HEAP32[ptr >> 2] + 8) >> 2]);
    return UTF8ToString(what(ptr));
  }
  return 'a C++ exception of type ' + (name || 'unknown') + ' (not a std::exception: no message to read)';
};
