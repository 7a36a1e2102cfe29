// STAND-IN FOR JANK'S RUNTIME (for tests and the demo): not jank. The clojure.core (and
// clojure.set) vars that the stand-in jank's C++ calls through jank_call_var.
#include "runtime.hpp"

#include <cmath>
#include <cstdio>

namespace standin
{
  namespace
  {
    bool is_number(object const *o)
    {
      return o && (o->kind == tag::integer || o->kind == tag::real);
    }

    double as_double(object const *o)
    {
      return o->kind == tag::real ? o->real : static_cast<double>(o->integer);
    }

    bool all_numbers(char const *name, int argc, object **args)
    {
      for(int i{}; i < argc; ++i)
      {
        if(!is_number(args[i]))
        {
          /* jank's visit_number_like: `not a number: "x"`. */
          fail("not a number: " + print(args[i], true));
          return false;
        }
      }
      return true;
    }

    enum class op
    {
      add,
      sub,
      mul,
      div
    };

    /* Integers stay integers unless a real takes part (or an integer division is inexact). */
    object *arithmetic(op const o, char const *name, int argc, object **args)
    {
      if(!all_numbers(name, argc, args))
      {
        return nil();
      }
      int64_t const identity{ o == op::mul || o == op::div ? 1 : 0 };
      if(argc == 0)
      {
        return o == op::sub || o == op::div ? fail(std::string{ name } + " needs an argument")
                                            : integer(identity);
      }
      object *acc{ argc == 1 && (o == op::sub || o == op::div) ? integer(identity) : args[0] };
      for(int i{ argc == 1 && (o == op::sub || o == op::div) ? 0 : 1 }; i < argc; ++i)
      {
        object *b{ args[i] };
        bool const ints{ acc->kind == tag::integer && b->kind == tag::integer };
        if(ints && (o != op::div || b->integer == 0 || remainder(acc->integer, b->integer) == 0))
        {
          int64_t const x{ acc->integer }, y{ b->integer };
          acc = integer(o == op::add ? x + y : o == op::sub ? x - y : o == op::mul ? x * y : divide(x, y));
          continue;
        }
        double const x{ as_double(acc) }, y{ as_double(b) };
        acc = real(o == op::add ? x + y : o == op::sub ? x - y : o == op::mul ? x * y : x / y);
      }
      return acc;
    }

    template <typename Compare>
    object *compare_chain(char const *name, int argc, object **args, Compare compare)
    {
      if(!all_numbers(name, argc, args))
      {
        return nil();
      }
      for(int i{ 1 }; i < argc; ++i)
      {
        if(!compare(as_double(args[i - 1]), as_double(args[i])))
        {
          return boolean(false);
        }
      }
      return boolean(true);
    }

    object *one_number(char const *name, int argc, object **args)
    {
      if(argc != 1)
      {
        fail(std::string{ name } + " takes one argument");
        return nullptr;
      }
      return all_numbers(name, argc, args) ? args[0] : nullptr;
    }

    object *collection_arg(int argc, object **args, int index)
    {
      return index < argc && args[index] ? args[index] : nil();
    }

    std::vector<object *> items_of(object *o)
    {
      return o->kind == tag::nil ? std::vector<object *>{} : o->items;
    }

    object *with_items(tag kind, std::vector<object *> items)
    {
      return collection(kind, static_cast<int>(items.size()), items.data());
    }

    object *core_add(int argc, object **args)
    {
      return arithmetic(op::add, "+", argc, args);
    }

    object *core_sub(int argc, object **args)
    {
      return arithmetic(op::sub, "-", argc, args);
    }

    object *core_mul(int argc, object **args)
    {
      return arithmetic(op::mul, "*", argc, args);
    }

    object *core_div(int argc, object **args)
    {
      return arithmetic(op::div, "/", argc, args);
    }

    object *core_lt(int argc, object **args)
    {
      return compare_chain("<", argc, args, [](double a, double b) { return a < b; });
    }

    object *core_gt(int argc, object **args)
    {
      return compare_chain(">", argc, args, [](double a, double b) { return a > b; });
    }

    object *core_le(int argc, object **args)
    {
      return compare_chain("<=", argc, args, [](double a, double b) { return a <= b; });
    }

    object *core_ge(int argc, object **args)
    {
      return compare_chain(">=", argc, args, [](double a, double b) { return a >= b; });
    }

    object *core_eq(int argc, object **args)
    {
      for(int i{ 1 }; i < argc; ++i)
      {
        if(!equal(args[i - 1], args[i]))
        {
          return boolean(false);
        }
      }
      return boolean(true);
    }

    object *core_not_eq(int argc, object **args)
    {
      return boolean(!truthy(core_eq(argc, args)));
    }

    object *core_inc(int argc, object **args)
    {
      object *n{ one_number("inc", argc, args) };
      object *one[]{ n, integer(1) };
      return n ? core_add(2, one) : nil();
    }

    object *core_dec(int argc, object **args)
    {
      object *n{ one_number("dec", argc, args) };
      object *one[]{ n, integer(1) };
      return n ? core_sub(2, one) : nil();
    }

    object *core_not(int argc, object **args)
    {
      return boolean(!truthy(collection_arg(argc, args, 0)));
    }

    object *core_mod(int argc, object **args)
    {
      if(argc != 2 || !all_numbers("mod", argc, args))
      {
        return fail("mod takes two numbers");
      }
      if(args[0]->kind == tag::integer && args[1]->kind == tag::integer)
      {
        int64_t const d{ args[1]->integer };
        int64_t const m{ remainder(args[0]->integer, d) };
        return integer(m != 0 && ((m < 0) != (d < 0)) ? m + d : m);
      }
      double const d{ as_double(args[1]) };
      double const m{ std::fmod(as_double(args[0]), d) };
      return real(m != 0 && ((m < 0) != (d < 0)) ? m + d : m);
    }

    object *core_max(int argc, object **args)
    {
      if(argc == 0 || !all_numbers("max", argc, args))
      {
        return fail("max takes numbers");
      }
      object *best{ args[0] };
      for(int i{ 1 }; i < argc; ++i)
      {
        best = as_double(args[i]) > as_double(best) ? args[i] : best;
      }
      return best;
    }

    object *core_min(int argc, object **args)
    {
      if(argc == 0 || !all_numbers("min", argc, args))
      {
        return fail("min takes numbers");
      }
      object *best{ args[0] };
      for(int i{ 1 }; i < argc; ++i)
      {
        best = as_double(args[i]) < as_double(best) ? args[i] : best;
      }
      return best;
    }

    std::string joined(int argc, object **args, bool readable)
    {
      std::string out;
      for(int i{}; i < argc; ++i)
      {
        out += (i > 0 ? " " : "") + print(args[i], readable);
      }
      return out;
    }

    object *core_str(int argc, object **args)
    {
      std::string out;
      for(int i{}; i < argc; ++i)
      {
        out += str(args[i]);
      }
      return string(out);
    }

    object *core_pr_str(int argc, object **args)
    {
      return string(joined(argc, args, true));
    }

    object *core_println(int argc, object **args)
    {
      std::printf("%s\n", joined(argc, args, false).c_str());
      std::fflush(stdout);
      return nil();
    }

    object *core_prn(int argc, object **args)
    {
      std::printf("%s\n", joined(argc, args, true).c_str());
      std::fflush(stdout);
      return nil();
    }

    object *core_count(int argc, object **args)
    {
      object *c{ collection_arg(argc, args, 0) };
      auto const size{ c->kind == tag::string ? c->text.size() : items_of(c).size() };
      return integer(static_cast<int64_t>(c->kind == tag::map ? size / 2 : size));
    }

    object *core_first(int argc, object **args)
    {
      auto const items{ items_of(collection_arg(argc, args, 0)) };
      return items.empty() ? nil() : items.front();
    }

    object *core_rest(int argc, object **args)
    {
      auto items{ items_of(collection_arg(argc, args, 0)) };
      if(!items.empty())
      {
        items.erase(items.begin());
      }
      return with_items(tag::list, items);
    }

    object *core_nth(int argc, object **args)
    {
      auto const items{ items_of(collection_arg(argc, args, 0)) };
      object *index{ collection_arg(argc, args, 1) };
      if(index->kind != tag::integer || index->integer < 0
         || static_cast<size_t>(index->integer) >= items.size())
      {
        return argc > 2 ? args[2] : fail("nth: index out of bounds");
      }
      return items[static_cast<size_t>(index->integer)];
    }

    /* conj: vectors and sets at the end, lists at the front, maps take [k v] pairs. */
    object *core_conj(int argc, object **args)
    {
      object *c{ collection_arg(argc, args, 0) };
      tag const kind{ c->kind == tag::nil ? tag::list : c->kind };
      auto items{ items_of(c) };
      for(int i{ 1 }; i < argc; ++i)
      {
        if(kind == tag::list)
        {
          items.insert(items.begin(), args[i]);
        }
        else if(kind == tag::map)
        {
          auto const pair{ items_of(args[i]) };
          items.insert(items.end(), pair.begin(), pair.end());
        }
        else
        {
          items.push_back(args[i]);
        }
      }
      return with_items(kind, items);
    }

    object *core_get(int argc, object **args)
    {
      object *c{ collection_arg(argc, args, 0) };
      object *key{ collection_arg(argc, args, 1) };
      object *fallback{ collection_arg(argc, args, 2) };
      auto const items{ items_of(c) };
      if(c->kind == tag::map)
      {
        for(size_t i{}; i + 1 < items.size(); i += 2)
        {
          if(equal(items[i], key))
          {
            return items[i + 1];
          }
        }
      }
      else if(c->kind == tag::set)
      {
        for(auto *item : items)
        {
          if(equal(item, key))
          {
            return item;
          }
        }
      }
      else if(c->kind == tag::vector && key->kind == tag::integer && key->integer >= 0
              && static_cast<size_t>(key->integer) < items.size())
      {
        return items[static_cast<size_t>(key->integer)];
      }
      return fallback;
    }

    object *core_contains(int argc, object **args)
    {
      object *missing{ keyword("", "stand-in/missing") };
      object *lookup[]{ collection_arg(argc, args, 0), collection_arg(argc, args, 1), missing };
      return boolean(core_get(3, lookup) != missing);
    }

    object *core_assoc(int argc, object **args)
    {
      object *c{ collection_arg(argc, args, 0) };
      auto items{ items_of(c) };
      items.insert(items.end(), args + 1, args + argc);
      return with_items(tag::map, items);
    }

    object *core_vector(int argc, object **args)
    {
      return collection(tag::vector, argc, args);
    }

    object *core_list(int argc, object **args)
    {
      return collection(tag::list, argc, args);
    }

    object *core_hash_map(int argc, object **args)
    {
      return collection(tag::map, argc, args);
    }

    object *core_hash_set(int argc, object **args)
    {
      return collection(tag::set, argc, args);
    }

    object *core_vec(int argc, object **args)
    {
      return with_items(tag::vector, items_of(collection_arg(argc, args, 0)));
    }

    object *core_set(int argc, object **args)
    {
      return with_items(tag::set, items_of(collection_arg(argc, args, 0)));
    }

    object *core_into(int argc, object **args)
    {
      object *to{ collection_arg(argc, args, 0) };
      std::vector<object *> conj_args{ to };
      auto const from{ items_of(collection_arg(argc, args, 1)) };
      conj_args.insert(conj_args.end(), from.begin(), from.end());
      return core_conj(static_cast<int>(conj_args.size()), conj_args.data());
    }

    object *core_range(int argc, object **args)
    {
      if(!all_numbers("range", argc, args) || argc < 1 || argc > 2)
      {
        return fail("range takes an end, or a start and an end");
      }
      int64_t const start{ argc == 2 ? args[0]->integer : 0 }, end{ args[argc - 1]->integer };
      std::vector<object *> items;
      for(int64_t i{ start }; i < end; ++i)
      {
        items.push_back(integer(i));
      }
      return with_items(tag::list, items);
    }

    object *core_mapv(int argc, object **args)
    {
      object *f{ collection_arg(argc, args, 0) };
      std::vector<object *> out;
      for(auto *item : items_of(collection_arg(argc, args, 1)))
      {
        out.push_back(call(f, 1, &item));
      }
      return with_items(tag::vector, out);
    }

    object *core_filterv(int argc, object **args)
    {
      object *f{ collection_arg(argc, args, 0) };
      std::vector<object *> out;
      for(auto *item : items_of(collection_arg(argc, args, 1)))
      {
        if(truthy(call(f, 1, &item)))
        {
          out.push_back(item);
        }
      }
      return with_items(tag::vector, out);
    }

    object *core_reduce(int argc, object **args)
    {
      object *f{ collection_arg(argc, args, 0) };
      auto items{ items_of(collection_arg(argc, args, argc == 3 ? 2 : 1)) };
      if(argc == 3)
      {
        items.insert(items.begin(), args[1]);
      }
      if(items.empty())
      {
        return call(f, 0, nullptr);
      }
      object *acc{ items.front() };
      for(size_t i{ 1 }; i < items.size(); ++i)
      {
        object *pair[]{ acc, items[i] };
        acc = call(f, 2, pair);
      }
      return acc;
    }

    object *core_apply(int argc, object **args)
    {
      if(argc < 2)
      {
        return fail("apply takes a function and arguments");
      }
      std::vector<object *> call_args(args + 1, args + argc - 1);
      auto const last{ items_of(args[argc - 1]) };
      call_args.insert(call_args.end(), last.begin(), last.end());
      return call(args[0], static_cast<int>(call_args.size()), call_args.data());
    }

    object *core_identity(int argc, object **args)
    {
      return collection_arg(argc, args, 0);
    }

    object *core_is_nil(int argc, object **args)
    {
      return boolean(collection_arg(argc, args, 0)->kind == tag::nil);
    }

    object *core_is_empty(int argc, object **args)
    {
      object *counted{ core_count(argc, args) };
      return boolean(counted->integer == 0);
    }

    object *number_test(char const *name, int argc, object **args, bool (*test)(double))
    {
      object *n{ one_number(name, argc, args) };
      return n ? boolean(test(as_double(n))) : nil();
    }

    object *core_is_zero(int argc, object **args)
    {
      return number_test("zero?", argc, args, [](double d) { return d == 0; });
    }

    object *core_is_pos(int argc, object **args)
    {
      return number_test("pos?", argc, args, [](double d) { return d > 0; });
    }

    object *core_is_neg(int argc, object **args)
    {
      return number_test("neg?", argc, args, [](double d) { return d < 0; });
    }

    object *core_is_even(int argc, object **args)
    {
      return number_test("even?", argc, args, [](double d) { return std::fmod(d, 2) == 0; });
    }

    object *core_is_odd(int argc, object **args)
    {
      return number_test("odd?", argc, args, [](double d) { return std::fmod(d, 2) != 0; });
    }

    object *core_keyword(int argc, object **args)
    {
      object *name{ collection_arg(argc, args, 0) };
      return name->kind == tag::keyword ? name : keyword("", str(name));
    }

    object *core_name(int argc, object **args)
    {
      return string(collection_arg(argc, args, 0)->text);
    }

    object *set_union(int argc, object **args)
    {
      std::vector<object *> items;
      for(int i{}; i < argc; ++i)
      {
        auto const more{ items_of(args[i]) };
        items.insert(items.end(), more.begin(), more.end());
      }
      return with_items(tag::set, items);
    }
  }

  void install_core()
  {
    struct entry
    {
      char const *ns;
      char const *name;
      variadic_fn fn;
    };

    static entry const entries[]{
      { "clojure.core", "+", core_add },
      { "clojure.core", "-", core_sub },
      { "clojure.core", "*", core_mul },
      { "clojure.core", "/", core_div },
      { "clojure.core", "<", core_lt },
      { "clojure.core", ">", core_gt },
      { "clojure.core", "<=", core_le },
      { "clojure.core", ">=", core_ge },
      { "clojure.core", "=", core_eq },
      { "clojure.core", "not=", core_not_eq },
      { "clojure.core", "inc", core_inc },
      { "clojure.core", "dec", core_dec },
      { "clojure.core", "not", core_not },
      { "clojure.core", "mod", core_mod },
      { "clojure.core", "max", core_max },
      { "clojure.core", "min", core_min },
      { "clojure.core", "str", core_str },
      { "clojure.core", "pr-str", core_pr_str },
      { "clojure.core", "println", core_println },
      { "clojure.core", "prn", core_prn },
      { "clojure.core", "count", core_count },
      { "clojure.core", "first", core_first },
      { "clojure.core", "rest", core_rest },
      { "clojure.core", "nth", core_nth },
      { "clojure.core", "conj", core_conj },
      { "clojure.core", "get", core_get },
      { "clojure.core", "contains?", core_contains },
      { "clojure.core", "assoc", core_assoc },
      { "clojure.core", "vector", core_vector },
      { "clojure.core", "list", core_list },
      { "clojure.core", "hash-map", core_hash_map },
      { "clojure.core", "hash-set", core_hash_set },
      { "clojure.core", "vec", core_vec },
      { "clojure.core", "set", core_set },
      { "clojure.core", "into", core_into },
      { "clojure.core", "range", core_range },
      { "clojure.core", "mapv", core_mapv },
      { "clojure.core", "filterv", core_filterv },
      { "clojure.core", "reduce", core_reduce },
      { "clojure.core", "apply", core_apply },
      { "clojure.core", "identity", core_identity },
      { "clojure.core", "nil?", core_is_nil },
      { "clojure.core", "empty?", core_is_empty },
      { "clojure.core", "zero?", core_is_zero },
      { "clojure.core", "pos?", core_is_pos },
      { "clojure.core", "neg?", core_is_neg },
      { "clojure.core", "even?", core_is_even },
      { "clojure.core", "odd?", core_is_odd },
      { "clojure.core", "keyword", core_keyword },
      { "clojure.core", "name", core_name },
      { "clojure.set", "union", set_union },
    };
    for(auto const &e : entries)
    {
      intern_var(e.ns, e.name)->root = core_function(e.fn);
    }
  }
}
