//! Reader timings on a generated 10,000-line jank file of ~10-line `defn` forms: 200 times,
//! a one-character edit, then `parse` and `form_at` at the edit (what a patch of the form
//! at the cursor reads before compiling); also `normalized` of every form (what a save
//! compares). Prints p50/p95/max in ms; goal: p50 well under 1 ms (target 0.5 ms).
//! Run: `cargo bench -p jank-hotpatch --bench reader`.

use std::hint::black_box;
use std::time::Instant;

use jank_hotpatch::reader::parse;
use test_support::stats::Summary;

const LINES: usize = 10_000;
const RUNS: usize = 200;

/// One ~10-line definition in the style of the demo app, with a docstring, metadata,
/// a comment, a map, a string and a discard.
fn definition(i: usize) -> String {
    format!(
        r#"(defn ^:private step-{i}
  "Advances the café state {i} by one tick (see `step-{prev}`)."
  [state {{:keys [x y] :as opts}}]
  ;; clamp first: the page renders whatever comes back
  (let [dx (* 2 (:speed opts {i}))
        label (str "tick " x \: y)]
    #_(println "debug" state)
    (-> state
        (update :x + dx)
        (assoc :label label :seen #{{x y}}))))
"#,
        prev = i.saturating_sub(1)
    )
}

fn source() -> String {
    let mut text = String::from(
        "(ns demo.big\n  (:require [clojure.string :as str]\n            [demo.util :refer [clamp]]))\n\n",
    );
    let mut i = 0;
    while text.lines().count() < LINES {
        text.push_str(&definition(i));
        text.push('\n');
        i += 1;
    }
    text
}

/// A deterministic pseudo-random sequence (no seed file, same offsets every run).
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *state >> 33
}

fn print(label: &str, times: &[f64]) {
    let s = Summary::of(times);
    println!("{label:<52} p50 {:>7.3} ms   p95 {:>7.3} ms   max {:>7.3} ms   (n={})", s.p50, s.p95, s.max, times.len());
}

fn main() {
    let mut text = source();
    let file = parse(&text);
    println!(
        "{} lines, {} bytes, {} top-level forms, {} errors",
        text.lines().count(),
        text.len(),
        file.forms.len(),
        file.errors.len()
    );

    let mut state = 0x6a61_6e6b;
    let mut edited = Vec::with_capacity(RUNS);
    let mut normalized = Vec::with_capacity(RUNS);
    for run in 0..RUNS + 10 {
        // Replace one lowercase letter by another: the structure stays, a token changes.
        let offset = loop {
            let at = next(&mut state) as usize % text.len();
            if text.as_bytes()[at].is_ascii_lowercase() {
                break at;
            }
        };
        let letter = (b'a' + (next(&mut state) % 26) as u8) as char;
        text.replace_range(offset..offset + 1, letter.encode_utf8(&mut [0; 4]));

        let started = Instant::now();
        let file = parse(&text);
        let form = file.form_at(offset);
        black_box(form);
        let parse_ms = started.elapsed().as_secs_f64() * 1000.0;

        let started = Instant::now();
        let all: Vec<String> = file.forms.iter().map(|form| form.normalized(&text)).collect();
        black_box(all);
        let normalize_ms = started.elapsed().as_secs_f64() * 1000.0;

        // The first runs warm the caches and the allocator.
        if run >= 10 {
            edited.push(parse_ms);
            normalized.push(normalize_ms);
        }
    }
    print("form at position after one-char edit, 10k lines", &edited);
    print("normalized text of every form, 10k lines", &normalized);
}
