// STAND-IN FOR JANK'S RUNTIME (for tests and the demo): not jank. A tiny object model with
// the helper functions, clojure.core vars, hot-reload registry and C API subset that the
// jank fork's hot-patch C++ and the browser client expect from jank's real main module.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace standin
{
  enum class tag
  {
    nil,
    boolean,
    integer,
    real,
    string,
    keyword,
    symbol,
    vector,
    list,
    map,
    set,
    function,
    var
  };

  struct object;

  /* clojure.core functions take any number of arguments; patch functions have a fixed arity. */
  using variadic_fn = object *(*)(int argc, object **args);

  /* One struct for every kind of value: the stand-in needs clarity, not speed. Objects are
   * never freed (patches are few; the page is reloaded before leaks matter). */
  struct object
  {
    tag kind{ tag::nil };
    bool boolean{};
    int64_t integer{};
    double real{};
    /* string text; keyword, symbol and var name */
    std::string text;
    /* keyword, symbol and var namespace */
    std::string ns;
    /* vector, list, set elements; map keys and values alternating */
    std::vector<object *> items;
    /* function: a patch's native function (fixed arity) or a core function (arity -1) */
    void *fn{};
    int arity{};
    /* var root */
    object *root{};
  };

  object *nil();
  object *boolean(bool b);
  object *integer(int64_t i);
  object *real(double d);
  object *string(std::string s);
  object *keyword(std::string ns, std::string name);
  object *symbol(std::string ns, std::string name);
  object *collection(tag kind, int argc, object **elements);
  object *function(void *fn, int arity);
  object *core_function(variadic_fn fn);

  bool truthy(object const *o);
  bool equal(object const *a, object const *b);
  /* `pr-str` when readable, else `print` style (strings without quotes). */
  std::string print(object const *o, bool readable);
  /* `str`: nil is empty, strings as they are, the rest printed readably. */
  std::string str(object const *o);

  object *intern_var(std::string const &ns, std::string const &name);
  /* nullptr when the var was never interned. */
  object *find_var(std::string const &ns, std::string const &name);
  object *call(object *f, int argc, object **args);
  /* Throws a runtime error as jank's runtime does: a C++ `std::runtime_error` carrying jank's
   * message, which escapes a call from JavaScript as an exception (the main module is linked
   * with the fork's `-fexceptions -frtti`). */
  [[noreturn]] object *fail(std::string const &message);
  /* Integer division and remainder as jank does them (`l / r` on two i64): a divisor of 0
   * traps in WebAssembly ("divide by zero", "remainder by zero"), as it does in jank. */
  int64_t divide(int64_t x, int64_t y);
  int64_t remainder(int64_t x, int64_t y);

  void install_core();
}
