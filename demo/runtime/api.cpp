// STAND-IN FOR JANK'S RUNTIME (for tests and the demo): not jank. What the main module
// exports: the 17 helpers the jank fork's hot-patch C++ imports (same signatures as the
// fork's hot_reload.cpp), the fork's registry entry jank_hot_reload_load_patch, and the
// subset of upstream jank's C API (c_api.h) that the browser client and the demo app use.
//
// Built with -DJANK_STANDIN_FORK_API it plays the fork's main module as it is: no
// jank_hot_reload_last_error, no jank_to_code_string, and a registry that skips an entry it
// cannot register and still returns 0 (the page must notice that nothing was bound).
#include "runtime.hpp"

#include <dlfcn.h>
#include <emscripten.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

using standin::object;

namespace
{
  object *obj(void *o)
  {
    return o ? static_cast<object *>(o) : standin::nil();
  }

  object **objs(void **args)
  {
    return reinterpret_cast<object **>(args);
  }

  /* Strings handed to JS stay valid until a few more have been handed out. */
  char const *keep(std::string s)
  {
    static std::string ring[16];
    static size_t next{};
    auto &slot{ ring[next++ % 16] };
    slot = std::move(s);
    return slot.c_str();
  }

  std::string text(char const *s)
  {
    return s ? s : "";
  }

  std::string last_error;

  struct loaded_module
  {
    std::string path;
    int symbols;
  };

  std::vector<loaded_module> loaded_modules;
  int registered_symbols{};

  /* As the fork's hot_reload_registry::load_patch, but every failure says why. */
  struct patch_symbol
  {
    char const *qualified_name;
    char const *signature;
    void *fn_ptr;
  };

  int reject(std::string reason)
  {
    last_error = std::move(reason);
    std::fprintf(stderr, "[hot-reload] %s\n", last_error.c_str());
    return -1;
  }

  [[maybe_unused]] int const core_installed{ (standin::install_core(), 0) };
}

extern "C"
{
  /* ===== The fork's helpers (imported by every patch) ===== */

  EMSCRIPTEN_KEEPALIVE void *jank_box_integer(int64_t value)
  {
    return standin::integer(value);
  }

  EMSCRIPTEN_KEEPALIVE int64_t jank_unbox_integer(void *o)
  {
    object *v{ obj(o) };
    return v->kind == standin::tag::integer ? v->integer
           : v->kind == standin::tag::real  ? static_cast<int64_t>(v->real)
                                            : 0;
  }

  EMSCRIPTEN_KEEPALIVE void *jank_box_double(double value)
  {
    return standin::real(value);
  }

  EMSCRIPTEN_KEEPALIVE double jank_unbox_double(void *o)
  {
    object *v{ obj(o) };
    return v->kind == standin::tag::real      ? v->real
           : v->kind == standin::tag::integer ? static_cast<double>(v->integer)
                                              : 0.0;
  }

  EMSCRIPTEN_KEEPALIVE void *jank_make_string(char const *str)
  {
    return standin::string(text(str));
  }

  EMSCRIPTEN_KEEPALIVE void *jank_call_var(char const *ns, char const *name, int argc, void **args)
  {
    object *var{ standin::find_var(text(ns), text(name)) };
    if(!var)
    {
      /* As the fork's: printed, and nil returned (no exception). */
      std::printf("[hot-reload] ERROR: Var not found: %s/%s\n", ns, name);
      return standin::nil();
    }
    /* The fork's switch has cases for 0 to 5 arguments. */
    if(argc < 0 || argc > 5)
    {
      return standin::fail("jank_call_var only supports up to 5 args, got " + std::to_string(argc));
    }
    return standin::call(var->root, argc, objs(args));
  }

  EMSCRIPTEN_KEEPALIVE void *jank_deref_var(char const *ns, char const *name)
  {
    object *var{ standin::find_var(text(ns), text(name)) };
    return var ? var->root : standin::nil();
  }

  EMSCRIPTEN_KEEPALIVE void *jank_make_keyword(char const *ns, char const *name)
  {
    return standin::keyword(text(ns), text(name));
  }

  EMSCRIPTEN_KEEPALIVE void *jank_make_symbol(char const *ns, char const *name)
  {
    return standin::symbol(text(ns), text(name));
  }

  EMSCRIPTEN_KEEPALIVE void *jank_make_vector(int argc, void **elements)
  {
    return standin::collection(standin::tag::vector, argc, objs(elements));
  }

  EMSCRIPTEN_KEEPALIVE void *jank_make_set(int argc, void **elements)
  {
    return standin::collection(standin::tag::set, argc, objs(elements));
  }

  EMSCRIPTEN_KEEPALIVE void *jank_make_list(int argc, void **elements)
  {
    return standin::collection(standin::tag::list, argc, objs(elements));
  }

  /* Keys and values alternating, as the fork passes them. */
  EMSCRIPTEN_KEEPALIVE void *jank_make_map(int argc, void **elements)
  {
    return standin::collection(standin::tag::map, argc, objs(elements));
  }

  EMSCRIPTEN_KEEPALIVE void *jank_println(int argc, void **args)
  {
    return jank_call_var("clojure.core", "println", argc, args);
  }

  EMSCRIPTEN_KEEPALIVE void *jank_nil_value()
  {
    return standin::nil();
  }

  /* Also upstream's C API `jank_bool jank_truthy(jank_object_ref)`: the same wasm signature. */
  EMSCRIPTEN_KEEPALIVE int jank_truthy(void *o)
  {
    return standin::truthy(obj(o)) ? 1 : 0;
  }

  EMSCRIPTEN_KEEPALIVE void *jank_make_fn_wrapper(void *fn_ptr, int arity)
  {
    if(arity < 0 || arity > 3)
    {
      return standin::fail("jank_make_fn_wrapper only supports arity 0-3, got "
                           + std::to_string(arity));
    }
    return standin::function(fn_ptr, arity);
  }

  /* ===== The fork's registry ===== */

  EMSCRIPTEN_KEEPALIVE int jank_hot_reload_load_patch(char const *path, char const *symbol_name)
  {
    last_error.clear();
    void *handle{ dlopen(path, RTLD_NOW | RTLD_LOCAL) };
    if(!handle)
    {
      char const *error{ dlerror() };
      return reject("dlopen " + text(path) + " failed: " + (error ? error : "unknown error"));
    }
    auto const get_symbols{ reinterpret_cast<patch_symbol *(*)(int *)>(dlsym(handle, symbol_name)) };
    if(!get_symbols)
    {
      return reject("symbol " + text(symbol_name) + " not found in " + text(path));
    }
    int count{};
    patch_symbol *symbols{ get_symbols(&count) };
    if(!symbols || count <= 0)
    {
      return reject(text(symbol_name) + " returned no symbols");
    }
    /* Check every entry before binding any, so a bad patch changes nothing. */
    for(int i{}; i < count; ++i)
    {
      std::string const qualified{ text(symbols[i].qualified_name) };
      char *end{};
      long const arity{ std::strtol(text(symbols[i].signature).c_str(), &end, 10) };
      if(qualified.find('/') == std::string::npos || qualified.front() == '/')
      {
        return reject("invalid qualified name (missing ns/): " + qualified);
      }
      if(!symbols[i].signature || end == symbols[i].signature || arity < 0 || arity > 4)
      {
#ifdef JANK_STANDIN_FORK_API
        std::fprintf(stderr, "[hot-reload] unsupported arity for %s, skipped\n", qualified.c_str());
        continue;
#else
        return reject("unsupported arity `" + text(symbols[i].signature) + "` for " + qualified
                      + " (0-4 supported)");
#endif
      }
    }
    for(int i{}; i < count; ++i)
    {
      std::string const qualified{ symbols[i].qualified_name };
      char *end{};
      long const arity{ std::strtol(text(symbols[i].signature).c_str(), &end, 10) };
      if(end == symbols[i].signature || arity < 0 || arity > 4)
      {
        continue; /* JANK_STANDIN_FORK_API only: the checks above refused it otherwise */
      }
      auto const slash{ qualified.find('/') };
      standin::intern_var(qualified.substr(0, slash), qualified.substr(slash + 1))->root
        = standin::function(symbols[i].fn_ptr, static_cast<int>(arity));
    }
    registered_symbols += count;
    loaded_modules.push_back({ text(path), count });
    return 0;
  }

#ifndef JANK_STANDIN_FORK_API
  /* Our addition: why the last jank_hot_reload_load_patch returned -1 ("" after a success). */
  EMSCRIPTEN_KEEPALIVE char const *jank_hot_reload_last_error(void)
  {
    return last_error.c_str();
  }
#endif

  /* As the fork's: JSON, to be released with free(). */
  EMSCRIPTEN_KEEPALIVE char const *jank_hot_reload_get_stats()
  {
    std::string json{ "{\"loaded_modules\":" + std::to_string(loaded_modules.size())
                      + ",\"registered_symbols\":" + std::to_string(registered_symbols)
                      + ",\"module_paths\":[" };
    for(size_t i{}; i < loaded_modules.size(); ++i)
    {
      json += (i > 0 ? ",\"" : "\"") + loaded_modules[i].path + "\"";
    }
    json += "]}";
    return strdup(json.c_str());
  }

  /* ===== Upstream jank's C API (c_api.h), the subset the client and the demo use ===== */

  EMSCRIPTEN_KEEPALIVE void *jank_var_intern_c(char const *const ns, char const *const name)
  {
    return standin::intern_var(text(ns), text(name));
  }

  EMSCRIPTEN_KEEPALIVE void *jank_var_bind_root(void *var, void *val)
  {
    object *v{ obj(var) };
    if(v->kind != standin::tag::var)
    {
      return standin::fail("jank_var_bind_root: not a var: " + standin::print(v, true));
    }
    v->root = obj(val);
    return v;
  }

  EMSCRIPTEN_KEEPALIVE void *jank_deref(void *o)
  {
    object *v{ obj(o) };
    return v->kind == standin::tag::var ? v->root : v;
  }

  EMSCRIPTEN_KEEPALIVE void *jank_call0(void *f)
  {
    return standin::call(obj(f), 0, nullptr);
  }

  EMSCRIPTEN_KEEPALIVE void *jank_call1(void *f, void *a1)
  {
    object *args[]{ obj(a1) };
    return standin::call(obj(f), 1, args);
  }

  EMSCRIPTEN_KEEPALIVE void *jank_call2(void *f, void *a1, void *a2)
  {
    object *args[]{ obj(a1), obj(a2) };
    return standin::call(obj(f), 2, args);
  }

  EMSCRIPTEN_KEEPALIVE void *jank_const_nil()
  {
    return standin::nil();
  }

  EMSCRIPTEN_KEEPALIVE void *jank_const_true()
  {
    return standin::boolean(true);
  }

  EMSCRIPTEN_KEEPALIVE void *jank_const_false()
  {
    return standin::boolean(false);
  }

  EMSCRIPTEN_KEEPALIVE void *jank_integer_create(long long i)
  {
    return standin::integer(i);
  }

  EMSCRIPTEN_KEEPALIVE void *jank_real_create(double r)
  {
    return standin::real(r);
  }

  EMSCRIPTEN_KEEPALIVE void *jank_string_create(char const *s)
  {
    return standin::string(text(s));
  }

  EMSCRIPTEN_KEEPALIVE long long jank_to_integer(void *o)
  {
    return jank_unbox_integer(o);
  }

  EMSCRIPTEN_KEEPALIVE char const *jank_to_string(void *o)
  {
    return keep(standin::str(obj(o)));
  }

#ifndef JANK_STANDIN_FORK_API
  EMSCRIPTEN_KEEPALIVE char const *jank_to_code_string(void *o)
  {
    return keep(standin::print(obj(o), true));
  }
#endif
}
