//! Reader tests: fixtures with a `|` cursor checked through `check`, and properties that
//! hold on any input.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use super::*;

/// Reads `fixture` without its `|` cursor marker and checks the text of the form at the
/// cursor (`None`: no form there). Returns that form for further checks.
fn check(fixture: &str, expected: Option<&str>) -> Option<Form> {
    let offset = fixture.find('|').expect("the fixture has a `|` cursor");
    let text = fixture.replacen('|', "", 1);
    let file = parse(&text);
    assert_invariants(&text, &file);
    let form = file.form_at(offset).cloned();
    let found = form.as_ref().map(|form| &text[form.range.clone()]);
    assert_eq!(found, expected, "form at offset {offset} of {text:?}");
    form
}

/// The source text of each top-level form and of each error.
fn texts(text: &str) -> (Vec<&str>, Vec<&str>) {
    let file = parse(text);
    assert_invariants(text, &file);
    let forms = file.forms.iter().map(|form| &text[form.range.clone()]).collect();
    let errors = file.errors.iter().map(|error| &text[error.range.clone()]).collect();
    (forms, errors)
}

fn def(keyword: &str) -> FormKind {
    FormKind::Def(keyword.into())
}

fn name(form: Option<Form>) -> Option<String> {
    form.and_then(|form| form.name)
}

fn declared(text: &str) -> NsDecl {
    match parse(text).namespace {
        Namespace::Declared(decl) => decl,
        Namespace::Missing => panic!("no namespace read from {text:?}"),
    }
}

fn require(ns: &str, alias: Option<&str>, refer: Refer) -> Require {
    Require { ns: ns.to_string(), alias: alias.map(str::to_string), refer }
}

fn normalized(text: &str) -> String {
    let file = parse(text);
    assert_eq!(file.forms.len(), 1, "one form in {text:?}");
    file.forms[0].normalized(text)
}

fn assert_forms_valid(text: &str, forms: &[Form], within: std::ops::Range<usize>) {
    let mut previous_end = within.start;
    for form in forms {
        let range = form.range.clone();
        assert!(range.start < range.end, "empty form {range:?} in {text:?}");
        assert!(previous_end <= range.start && range.end <= within.end, "form {range:?} out of order in {text:?}");
        assert!(text.is_char_boundary(range.start) && text.is_char_boundary(range.end), "{range:?} in {text:?}");
        assert_forms_valid(text, &form.children, range.clone());
        form.normalized(text);
        previous_end = range.end;
    }
}

/// What must hold for any text: ranges inside the text and on character boundaries, forms
/// ordered and apart, and `form_at` giving a form that contains the offset.
fn assert_invariants(text: &str, file: &SourceFile) {
    assert_forms_valid(text, &file.forms, 0..text.len());
    for error in &file.errors {
        let range = error.range.clone();
        assert!(range.start <= range.end && range.end <= text.len(), "error {range:?} in {text:?}");
        assert!(text.is_char_boundary(range.start) && text.is_char_boundary(range.end), "error {range:?} in {text:?}");
    }
    for offset in 0..=text.len() {
        if let Some(form) = file.form_at(offset) {
            assert!(form.range.start <= offset && offset <= form.range.end, "form_at({offset}) in {text:?}");
        }
    }
}

// --- Forms, kinds and names -------------------------------------------------------------

#[test]
fn def_like_forms_have_their_keyword_and_name() {
    for (keyword, source) in [
        ("def", "(def |x 1)"),
        ("defn", "(defn |x [a] a)"),
        ("defn-", "(defn- x| [] 1)"),
        ("defonce", "|(defonce x (atom 0))"),
        ("defmacro", "(defmacro x [& body] `(do ~@body))|"),
        ("defrecord", "(defrecord x [a b]|)"),
    ] {
        let text = source.replace('|', "");
        let form = check(source, Some(&text)).expect("a form");
        assert_eq!((form.kind, form.name.as_deref()), (def(keyword), Some("x")), "{source}");
    }
}

#[test]
fn a_def_name_skips_metadata() {
    let form = check("(defn ^:private |foo [] 1)", Some("(defn ^:private foo [] 1)"));
    assert_eq!(name(form), Some("foo".into()));
    let form = check("(def ^{:doc \"x\"} bar| 1)", Some("(def ^{:doc \"x\"} bar 1)"));
    assert_eq!(name(form), Some("bar".into()));
    let form = check("(def ^String ^:dynamic *out*| nil)", Some("(def ^String ^:dynamic *out* nil)"));
    assert_eq!(name(form), Some("*out*".into()));
    let form = check("(def #_ skipped ^:m real| 1)", Some("(def #_ skipped ^:m real 1)"));
    assert_eq!(name(form), Some("real".into()));
}

#[test]
fn load_hooks_are_read_from_the_name_s_metadata() {
    let hook = |fixture: &str| check(fixture, Some(&fixture.replace('|', ""))).and_then(|f| f.load_hook);
    assert_eq!(hook("(defn ^:dev/after-load |on-reload [] 1)"), Some(LoadHook::AfterLoad));
    assert_eq!(hook("(defn ^:private ^:dev/before-load |stop [] 1)"), Some(LoadHook::BeforeLoad));
    assert_eq!(hook("(defn ^{:dev/after-load true :doc \"x\"} |again [] 1)"), Some(LoadHook::AfterLoad));
    assert_eq!(hook("(defn ^:private |plain [] :dev/after-load)"), None, "only metadata on the name counts");
    assert_eq!(hook("(defn |plain [] 1)"), None);
}

#[test]
fn other_forms_are_expressions_without_names() {
    for source in ["(println| \"hi\")", "|(def)", "(def| [a] 1)", "|:kw", "x|", "[1 2|]"] {
        let form = check(source, Some(&source.replace('|', ""))).expect("a form");
        assert_eq!(form.name, None, "{source}");
    }
    assert_eq!(check("(println| 1)", Some("(println 1)")).map(|f| f.kind), Some(FormKind::Expression));
    assert_eq!(check("'(defn| x [] 1)", Some("'(defn x [] 1)")).map(|f| f.kind), Some(FormKind::Expression));
}

#[test]
fn a_top_level_form_starts_at_its_metadata() {
    let form = check("(def a 1)\n^:no-doc (defn |b [] 2)\n", Some("^:no-doc (defn b [] 2)"));
    assert_eq!(form.map(|f| (f.kind, f.name)), Some((def("defn"), Some("b".into()))));
    check("|^{:a [1 2]} ^Type (def c 3)", Some("^{:a [1 2]} ^Type (def c 3)"));
}

#[test]
fn strings_with_escapes_hold_delimiters() {
    check("(def s \"a \\\" ( ] \\\\\")|\n(def t 1)", Some("(def s \"a \\\" ( ] \\\\\")"));
    check("(def s \"line\nbreak )\")\n(def |t 1)", Some("(def t 1)"));
}

#[test]
fn character_literals_hold_delimiters() {
    let text = "(def cs [\\( \\) \\\" \\[ \\; \\newline \\space \\u00e9 \\a \\é \\🎉])";
    check(&format!("{text}|\n(def b 2)"), Some(text));
    assert_eq!(texts("(def x \\a)(def y \\()"), (vec!["(def x \\a)", "(def y \\()"], vec![]));
}

#[test]
fn comments_hold_delimiters() {
    check("(defn f []\n  ; ) ] } \"\n  1)|", Some("(defn f []\n  ; ) ] } \"\n  1)"));
    assert_eq!(texts("#!/usr/bin/env jank (\n; (def hidden 1)\n(def a 1) ; tail ("), (vec!["(def a 1)"], vec![]));
}

#[test]
fn discards_nest_and_are_not_forms() {
    assert_eq!(texts("#_ #_ a b c"), (vec!["c"], vec![]));
    assert_eq!(texts("#_(defn gone [] 1)\n(defn kept [] 2)"), (vec!["(defn kept [] 2)"], vec![]));
    assert_eq!(texts("#_ ^:m #_ x y z"), (vec!["z"], vec![]));
    check("(defn f [] #_ #_ (a) [b] 1)|", Some("(defn f [] #_ #_ (a) [b] 1)"));
    check("#_ (a) |  (b)", None);
}

#[test]
fn reader_conditionals_regexes_and_quotes() {
    check("(def x #?(:clj 1 :cljs 2)|)", Some("(def x #?(:clj 1 :cljs 2))"));
    check("(def xs [#?@(:clj [1 2])]|)", Some("(def xs [#?@(:clj [1 2])])"));
    assert_eq!(
        check("#?(:clj (defn| x []))", Some("#?(:clj (defn x []))")).map(|f| f.kind),
        Some(FormKind::Expression)
    );
    check("(def re #\"a\\\"(b[\"|)", Some("(def re #\"a\\\"(b[\")"));
    let form = check("(defmacro m [x] `(do ~x ~@(rest x) 'y @z))|", Some("(defmacro m [x] `(do ~x ~@(rest x) 'y @z))"));
    assert_eq!(name(form), Some("m".into()));
}

#[test]
fn dispatch_forms() {
    check("(def f #(+ % 1)|)", Some("(def f #(+ % 1))"));
    check("(def s #{1 2}|)", Some("(def s #{1 2})"));
    check("(def v #'foo|)", Some("(def v #'foo)"));
    check("(def inf [##Inf ##-Inf ##NaN]|)", Some("(def inf [##Inf ##-Inf ##NaN])"));
    check("(def t #inst \"2020-01-01\"|)", Some("(def t #inst \"2020-01-01\")"));
    check("(def m #my/tag {:a (b)}|)", Some("(def m #my/tag {:a (b)})"));
    check("(def nm #:a{:b 1} #::{:c 2} #:a {:d 3}|)", Some("(def nm #:a{:b 1} #::{:c 2} #:a {:d 3})"));
    assert_eq!(
        texts("#inst \"2020\" #my/tag [1] 'q @r #'v"),
        (vec!["#inst \"2020\"", "#my/tag [1]", "'q", "@r", "#'v"], vec![])
    );
}

#[test]
fn non_ascii_text_keeps_byte_ranges() {
    let text = "; 🎉 comment (\n(def café \"é 🎉 (\")\n(defn 🎉| [] \\é)";
    let form = check(text, Some("(defn 🎉 [] \\é)")).expect("a form");
    assert_eq!(form.name.as_deref(), Some("🎉"));
    let plain = text.replace('|', "");
    let file = parse(&plain);
    let start = plain.find("(def café").expect("the def");
    assert_eq!(file.forms[0].range, start..start + "(def café \"é 🎉 (\")".len());
    assert_eq!(file.forms[0].name.as_deref(), Some("café"));
}

// --- form_at ----------------------------------------------------------------------------

#[test]
fn form_at_positions() {
    check("(def a 1)|\n\n(def b 2)", Some("(def a 1)"));
    check("(def a 1)\n|\n(def b 2)", None);
    check("(def a 1)\n\n|(def b 2)", Some("(def b 2)"));
    check("(a)|(b)", Some("(b)"));
    check("|", None);
    check("; only a comment|", None);
}

#[test]
fn inside_a_comment_form_the_body_form_is_the_form() {
    let text = "(comment\n  (def x 1)\n  (f (g| x))\n  :done)";
    check(text, Some("(f (g x))"));
    check("(comment (def x 1)|)", Some("(def x 1)"));
    check("(comment (comment (a|) (b)))", Some("(a)"));
    check("|(comment (a))", Some("(comment (a))"));
    check("(comment (a) :b |)", Some("(comment (a) :b )"));
    check("(comment (a) :b )|", Some("(comment (a) :b )"));
    check("(com|ment (a))", None);
    check("(comment (a)  |  (b))", None);
    let form = check("|(comment (def x 1) (f))", Some("(comment (def x 1) (f))")).expect("the comment");
    assert_eq!(form.kind, FormKind::Comment);
    assert_eq!(form.children.iter().map(|f| f.name.clone()).collect::<Vec<_>>(), vec![Some("x".to_string()), None]);
}

// --- ns -----------------------------------------------------------------------------------

#[test]
fn the_ns_form_gives_name_docstring_and_requires() {
    let text = "(ns ^:no-doc app.core\n  \"The \\\"app\\\".\"\n  {:author \"me\"}\n  (:require [a.b :as b]\n            [c.d :refer [x y]]\n            [e :refer :all]\n            (prefix [sub1 :as s] sub2)\n            f.g)\n  (:use [old.lib])\n  (:import (java.util Date)))\n(def x 1)";
    let decl = declared(text);
    assert_eq!(decl.name, "app.core");
    assert_eq!(decl.docstring.as_deref(), Some("The \"app\"."));
    assert_eq!(
        decl.requires,
        vec![
            require("a.b", Some("b"), Refer::None),
            require("c.d", None, Refer::Names(vec!["x".into(), "y".into()])),
            require("e", None, Refer::All),
            require("prefix.sub1", Some("s"), Refer::None),
            require("prefix.sub2", None, Refer::None),
            require("f.g", None, Refer::None),
        ]
    );
    assert_eq!(decl.range, 0..text.find("\n(def x 1)").expect("the def"));
    assert_eq!(parse(text).forms[0].kind, FormKind::Ns);
}

#[test]
fn prefix_lists_expand() {
    let decl = declared("(ns a (:require (clojure [set :as set] string) [b [c :as c]]))");
    let names: Vec<_> = decl.requires.iter().map(|r| (r.ns.as_str(), r.alias.as_deref())).collect();
    assert_eq!(names, vec![("clojure.set", Some("set")), ("clojure.string", None), ("b.c", Some("c"))]);
}

#[test]
fn ns_without_requires_and_normalized_text() {
    let decl = declared(";; header\n(ns demo.core)\n");
    assert_eq!((decl.name.as_str(), decl.docstring, decl.requires), ("demo.core", None, vec![]));
    assert_eq!(decl.normalized, "(ns demo.core)");
    let reformatted = declared("(ns  demo.core ; why\n  )");
    assert_eq!(Namespace::Declared(reformatted).fingerprint(), "(ns demo.core)");
}

#[test]
fn a_file_without_ns_is_missing() {
    let file = parse("(def x 1)\n(comment (ns inside.comment))");
    assert_eq!(file.namespace, Namespace::Missing);
    assert_eq!(file.errors, vec![]);
}

#[test]
fn an_ns_form_without_a_name_is_missing_with_an_error() {
    for text in ["(ns)", "(ns \"doc\" (:require a))", "(ns 1)"] {
        let file = parse(text);
        assert_eq!(file.namespace, Namespace::Missing, "{text}");
        let errors: Vec<_> = file.errors.iter().map(|e| &text[e.range.clone()]).collect();
        assert_eq!(errors, vec!["ns"], "{text}");
    }
    assert_eq!(parse("(ns a.b)\n(ns c.d)").namespace.name(), Some("a.b"));
}

// --- normalized -------------------------------------------------------------------------

#[test]
fn normalized_ignores_layout_comments_and_discards() {
    let canonical = "(defn f [x] (let [y 1] {:a 'y :b @x} #(inc %)))";
    assert_eq!(normalized(canonical), canonical);
    for variant in [
        "(defn   f\n  [x]\n  (let [y 1]\n    {:a 'y, :b @x}\n    #(inc %)))",
        "( defn f [ x ] ; the argument\n ( let [ y 1 ] { :a ' y :b @ x } #_ (old code) #( inc % ) ) )",
        "(defn f [x] #_#_ a b (let [y 1] {:a 'y :b @x} #(inc %)))",
    ] {
        assert_eq!(normalized(variant), canonical, "{variant}");
    }
}

#[test]
fn normalized_changes_with_any_token() {
    let base = normalized("(defn f [a b] (g a b))");
    for changed in [
        "(defn f [ab] (g a b))",
        "(defn f [a b] (g a b 1))",
        "(defn f [a b] (g \"a\" b))",
        "(defn f [a b] [g a b])",
        "(defn ^:private f [a b] (g a b))",
    ] {
        assert_ne!(normalized(changed), base, "{changed}");
    }
    assert_ne!(normalized("`(~ @x)"), normalized("`(~@x)"));
    assert_ne!(normalized("(a #(b))"), normalized("(a# (b))"));
    assert_ne!(normalized("(#my/tag x)"), normalized("(#my/tagx)"));
    assert_ne!(normalized("(f \"a  b\")"), normalized("(f \"a b\")"));
}

// --- errors -------------------------------------------------------------------------------

#[test]
fn unbalanced_input_reports_the_offending_delimiter() {
    assert_eq!(texts("(def a 1)\n(defn b [x]\n  (inc x)").1, vec!["("]);
    assert_eq!(parse("(def a 1)\n(defn b [x]").errors[0].range, 10..11);
    assert_eq!(parse("(def a 1))").errors.iter().map(|e| e.range.clone()).collect::<Vec<_>>(), vec![9..10]);
    let file = parse("(]");
    assert_eq!(file.errors.iter().map(|e| e.range.clone()).collect::<Vec<_>>(), vec![1..2]);
    assert!(file.errors[0].message.contains("mismatched `]`"), "{}", file.errors[0].message);
    assert_eq!(parse("(def s \"abc)").errors.iter().map(|e| e.range.clone()).collect::<Vec<_>>(), vec![0..1, 7..8]);
    assert_eq!(texts("(def r #\"abc)").1, vec!["(", "#\""]);
    assert!(texts("(def x ^:m)").1.is_empty());
    assert_eq!(texts("(def x 1) '").1, vec!["'"]);
    assert_eq!(texts("#_").1, vec!["#_"]);
    // Comment bodies are read twice (for `form_at`); their errors are reported once.
    assert_eq!(texts("(comment (f \"x)").1, vec!["(", "(", "\""]);
}

#[test]
fn unterminated_forms_run_to_their_last_token() {
    let (forms, errors) = texts("(def a 1)\n(defn b [x]\n  (inc x) ; trailing\n");
    assert_eq!(forms, vec!["(def a 1)", "(defn b [x]\n  (inc x)"]);
    assert_eq!(errors, vec!["("]);
    let file = parse("(defn b [x]");
    assert_eq!(file.forms[0].name.as_deref(), Some("b"));
    check("(defn b [x]\n  (inc x|", Some("(defn b [x]\n  (inc x"));
}

#[test]
fn deep_nesting_reads_without_recursion() {
    let parens = "(".repeat(100_000);
    let file = parse(&parens);
    assert_eq!((file.forms.len(), file.errors.len()), (1, 100_000));
    let comments = "(comment ".repeat(20_000);
    let file = parse(&comments);
    assert_eq!(file.forms[0].kind, FormKind::Comment);
    assert!(file.form_at(comments.len() - 1).is_some());
    let discards = format!("{}a b", "#_ ".repeat(100_000));
    assert!(parse(&discards).forms.is_empty());
    let metadata = format!("{}(def x 1)", "^:m ".repeat(100_000));
    assert_eq!(parse(&metadata).forms[0].name.as_deref(), Some("x"));
    let ns = format!("(ns a.b (:require {}", "[".repeat(100_000));
    assert_eq!(parse(&ns).namespace.name(), Some("a.b"));
}

#[test]
fn a_form_s_symbols_leave_out_strings_comments_characters_and_discards() {
    let text = "(ns a)\n(defn f [x] ; m/twice\n  (m/twice \"twice\" \\t #_(twice 1) 'q x))";
    let form = &parse(text).forms[1];
    assert_eq!(symbols(&text[form.range.clone()]), ["defn", "f", "x", "m/twice", "q", "x"]);
}

#[test]
fn symbol_tokens_have_their_places_and_whether_a_vector_holds_them() {
    let text = "(let [x 1 x (f x)] #_y [x])";
    let tokens = symbol_tokens(text);
    let seen: Vec<(&str, &str, bool)> = tokens.iter().map(|t| (t.text, &text[t.range.clone()], t.in_vector)).collect();
    assert_eq!(
        seen,
        [
            ("let", "let", false),
            ("x", "x", true),
            ("x", "x", true),
            ("f", "f", false),
            ("x", "x", false),
            ("x", "x", true)
        ]
    );
}

// --- properties ---------------------------------------------------------------------------

/// Text made mostly of Clojure punctuation, names and multibyte characters.
fn clojureish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "\"",
        "\\",
        ";",
        "#",
        "^",
        "'",
        "`",
        "~",
        "@",
        "#_",
        "#?",
        "#?@",
        "#:",
        "##",
        "#'",
        "\n",
        " ",
        ",",
        "a",
        "def",
        "defn",
        "comment",
        "ns",
        ":k",
        "1",
        "é",
        "🎉",
        "(:require [",
        "#\"",
        "\\u00e9",
    ]);
    prop::collection::vec(pieces, 0..60).prop_map(|pieces| pieces.concat())
}

fn config() -> Config {
    // At least 2,000 cases; PROPTEST_CASES raises it (the reliability suite runs 10,000).
    Config {
        cases: Config::default().cases.max(2_000),
        rng_seed: RngSeed::Fixed(0x6a61_6e6b),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_reads_without_panic(text in prop_oneof![clojureish(), any::<String>(), "[ -~é🎉\n]{0,80}"]) {
        let file = parse(&text);
        assert_invariants(&text, &file);
    }
}
