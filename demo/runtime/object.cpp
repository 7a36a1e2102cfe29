// STAND-IN FOR JANK'S RUNTIME (for tests and the demo): not jank. The object model: values,
// equality, printing like jank's pr-str/str, vars, and calling functions.
#include "runtime.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>

namespace standin
{
  namespace
  {
    object *make(tag kind)
    {
      auto *o{ new object };
      o->kind = kind;
      return o;
    }

    std::map<std::string, object *> &vars()
    {
      static std::map<std::string, object *> all;
      return all;
    }

    /* Shortest text that reads back as the same double, with jank's `.0` for whole numbers. */
    std::string print_real(double d)
    {
      if(std::isnan(d))
      {
        return "##NaN";
      }
      if(std::isinf(d))
      {
        return d > 0 ? "##Inf" : "##-Inf";
      }
      char buffer[32];
      for(int precision{ 1 }; precision <= 17; ++precision)
      {
        std::snprintf(buffer, sizeof(buffer), "%.*g", precision, d);
        if(std::strtod(buffer, nullptr) == d)
        {
          break;
        }
      }
      std::string text{ buffer };
      if(text.find_first_of(".e") == std::string::npos)
      {
        text += ".0";
      }
      return text;
    }

    std::string quote(std::string const &s)
    {
      std::string out{ "\"" };
      for(char const c : s)
      {
        switch(c)
        {
          case '"':
            out += "\\\"";
            break;
          case '\\':
            out += "\\\\";
            break;
          case '\n':
            out += "\\n";
            break;
          case '\t':
            out += "\\t";
            break;
          default:
            out += c;
        }
      }
      return out + "\"";
    }

    std::string qualified(object const *o)
    {
      return o->ns.empty() ? o->text : o->ns + "/" + o->text;
    }

    std::string print_items(object const *o, bool readable, char const *open, char const *close)
    {
      std::string out{ open };
      bool const is_map{ o->kind == tag::map };
      for(size_t i{}; i < o->items.size(); ++i)
      {
        if(i > 0)
        {
          out += (is_map && i % 2 == 0) ? ", " : " ";
        }
        out += print(o->items[i], readable);
      }
      return out + close;
    }

    bool sequential(object const *o)
    {
      return o->kind == tag::vector || o->kind == tag::list;
    }

    bool contains(object const *set, object const *value)
    {
      for(auto const *item : set->items)
      {
        if(equal(item, value))
        {
          return true;
        }
      }
      return false;
    }

    object const *map_get(object const *map, object const *key)
    {
      for(size_t i{}; i + 1 < map->items.size(); i += 2)
      {
        if(equal(map->items[i], key))
        {
          return map->items[i + 1];
        }
      }
      return nullptr;
    }
  }

  object *nil()
  {
    static object *const instance{ make(tag::nil) };
    return instance;
  }

  object *boolean(bool const b)
  {
    static object *const yes{ [] {
      auto *o{ make(tag::boolean) };
      o->boolean = true;
      return o;
    }() };
    static object *const no{ make(tag::boolean) };
    return b ? yes : no;
  }

  object *integer(int64_t const i)
  {
    auto *o{ make(tag::integer) };
    o->integer = i;
    return o;
  }

  object *real(double const d)
  {
    auto *o{ make(tag::real) };
    o->real = d;
    return o;
  }

  object *string(std::string s)
  {
    auto *o{ make(tag::string) };
    o->text = std::move(s);
    return o;
  }

  object *keyword(std::string ns, std::string name)
  {
    auto *o{ make(tag::keyword) };
    o->ns = std::move(ns);
    o->text = std::move(name);
    return o;
  }

  object *symbol(std::string ns, std::string name)
  {
    auto *o{ keyword(std::move(ns), std::move(name)) };
    o->kind = tag::symbol;
    return o;
  }

  /* Maps take keys and values alternating; later keys replace earlier ones. Sets drop
   * duplicates. */
  object *collection(tag const kind, int const argc, object **elements)
  {
    auto *o{ make(kind) };
    for(int i{}; i < argc; ++i)
    {
      object *element{ elements[i] ? elements[i] : nil() };
      if(kind == tag::set && contains(o, element))
      {
        continue;
      }
      if(kind == tag::map && i + 1 < argc)
      {
        object *value{ elements[i + 1] ? elements[i + 1] : nil() };
        ++i;
        bool replaced{};
        for(size_t k{}; k + 1 < o->items.size(); k += 2)
        {
          if(equal(o->items[k], element))
          {
            o->items[k + 1] = value;
            replaced = true;
          }
        }
        if(!replaced)
        {
          o->items.push_back(element);
          o->items.push_back(value);
        }
        continue;
      }
      o->items.push_back(element);
    }
    return o;
  }

  object *function(void *fn, int const arity)
  {
    auto *o{ make(tag::function) };
    o->fn = fn;
    o->arity = arity;
    return o;
  }

  object *core_function(variadic_fn fn)
  {
    return function(reinterpret_cast<void *>(fn), -1);
  }

  bool truthy(object const *o)
  {
    return o && o->kind != tag::nil && !(o->kind == tag::boolean && !o->boolean);
  }

  bool equal(object const *a, object const *b)
  {
    a = a ? a : nil();
    b = b ? b : nil();
    if(a == b)
    {
      return true;
    }
    if(sequential(a) && sequential(b))
    {
      if(a->items.size() != b->items.size())
      {
        return false;
      }
      for(size_t i{}; i < a->items.size(); ++i)
      {
        if(!equal(a->items[i], b->items[i]))
        {
          return false;
        }
      }
      return true;
    }
    if(a->kind != b->kind)
    {
      return false;
    }
    switch(a->kind)
    {
      case tag::nil:
        return true;
      case tag::boolean:
        return a->boolean == b->boolean;
      case tag::integer:
        return a->integer == b->integer;
      case tag::real:
        return a->real == b->real;
      case tag::string:
      case tag::keyword:
      case tag::symbol:
        return a->ns == b->ns && a->text == b->text;
      case tag::set:
        if(a->items.size() != b->items.size())
        {
          return false;
        }
        for(auto const *item : a->items)
        {
          if(!contains(b, item))
          {
            return false;
          }
        }
        return true;
      case tag::map:
        if(a->items.size() != b->items.size())
        {
          return false;
        }
        for(size_t i{}; i + 1 < a->items.size(); i += 2)
        {
          auto const *value{ map_get(b, a->items[i]) };
          if(!value || !equal(value, a->items[i + 1]))
          {
            return false;
          }
        }
        return true;
      default:
        return false;
    }
  }

  std::string print(object const *o, bool const readable)
  {
    o = o ? o : nil();
    switch(o->kind)
    {
      case tag::nil:
        return "nil";
      case tag::boolean:
        return o->boolean ? "true" : "false";
      case tag::integer:
        return std::to_string(o->integer);
      case tag::real:
        return print_real(o->real);
      case tag::string:
        return readable ? quote(o->text) : o->text;
      case tag::keyword:
        return ":" + qualified(o);
      case tag::symbol:
        return qualified(o);
      case tag::vector:
        return print_items(o, readable, "[", "]");
      case tag::list:
        return print_items(o, readable, "(", ")");
      case tag::map:
        return print_items(o, readable, "{", "}");
      case tag::set:
        return print_items(o, readable, "#{", "}");
      case tag::function:
        {
          char buffer[48];
          std::snprintf(buffer, sizeof(buffer), "#object[function %p]", o->fn);
          return buffer;
        }
      case tag::var:
        return "#'" + qualified(o);
    }
    return "nil";
  }

  std::string str(object const *o)
  {
    if(!o || o->kind == tag::nil)
    {
      return "";
    }
    return o->kind == tag::string ? o->text : print(o, true);
  }

  object *intern_var(std::string const &ns, std::string const &name)
  {
    auto &slot{ vars()[ns + "/" + name] };
    if(!slot)
    {
      slot = make(tag::var);
      slot->ns = ns;
      slot->text = name;
      slot->root = nil();
    }
    return slot;
  }

  object *find_var(std::string const &ns, std::string const &name)
  {
    auto const found{ vars().find(ns + "/" + name) };
    return found == vars().end() ? nullptr : found->second;
  }

  object *fail(std::string const &message)
  {
    throw std::runtime_error{ message };
  }

  int64_t divide(int64_t const x, int64_t const y)
  {
    /* volatile: the optimizer may not assume a divisor of 0 away; the division itself traps. */
    int64_t const volatile divisor{ y };
    return x / divisor;
  }

  int64_t remainder(int64_t const x, int64_t const y)
  {
    int64_t const volatile divisor{ y };
    return x % divisor;
  }

  object *call(object *f, int const argc, object **args)
  {
    f = f ? f : nil();
    if(f->kind == tag::var)
    {
      return call(f->root, argc, args);
    }
    /* Keywords look themselves up in a map, as in Clojure. */
    if(f->kind == tag::keyword && argc >= 1 && args[0] && args[0]->kind == tag::map)
    {
      auto const *value{ map_get(args[0], f) };
      return const_cast<object *>(value ? value : (argc > 1 ? args[1] : nil()));
    }
    if(f->kind != tag::function)
    {
      /* jank's dynamic_call: "invalid call with 0 args to nil", "... 1 arg to: 42". */
      return fail("invalid call with " + std::to_string(argc) + (argc == 1 ? " arg" : " args") + " to"
                  + (argc == 0 ? " " : ": ") + print(f, true));
    }
    if(f->arity < 0)
    {
      return reinterpret_cast<variadic_fn>(f->fn)(argc, args);
    }
    if(argc != f->arity)
    {
      return fail("wrong number of args (" + std::to_string(argc) + ") passed to a function of arity "
                  + std::to_string(f->arity));
    }
    using ptr = void *;
    ptr const a0{ argc > 0 ? args[0] : nullptr }, a1{ argc > 1 ? args[1] : nullptr },
      a2{ argc > 2 ? args[2] : nullptr }, a3{ argc > 3 ? args[3] : nullptr };
    switch(argc)
    {
      case 0:
        return static_cast<object *>(reinterpret_cast<ptr (*)()>(f->fn)());
      case 1:
        return static_cast<object *>(reinterpret_cast<ptr (*)(ptr)>(f->fn)(a0));
      case 2:
        return static_cast<object *>(reinterpret_cast<ptr (*)(ptr, ptr)>(f->fn)(a0, a1));
      case 3:
        return static_cast<object *>(reinterpret_cast<ptr (*)(ptr, ptr, ptr)>(f->fn)(a0, a1, a2));
      case 4:
        return static_cast<object *>(
          reinterpret_cast<ptr (*)(ptr, ptr, ptr, ptr)>(f->fn)(a0, a1, a2, a3));
      default:
        return fail("functions of more than 4 parameters are not supported");
    }
  }
}
