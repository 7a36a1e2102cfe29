//! The scenarios: what each one edits, how it patches, and what it counts. Each turns into
//! one row of the table (the memory scenario also into the `soak` figures).
//!
//! Owns: the order of edits and patches per scenario. Must not start processes itself: the
//! `rig` does that.

use std::path::Path;
use std::time::Instant;

use super::baselines::{self, Way};
use super::memory::{page_memory, rss_kib};
use super::rig::{
    report_problem, sample_of, Rig, CACHE_FORM, MACRO_USERS, SAVED_FORM, SAVE_FORMS, SMALL_FORM, SOAK_FORM,
};
use super::stats::{Sample, ScenarioResult};
use super::{fanout, BenchError, BenchOptions, BenchResults, Fanout, PageSoak, Soak, SCENARIOS};
use jank_hotpatch::config::{Settings, Toolchain};
use jank_hotpatch::side_module::SideModuleBuilder;
use jank_hotpatch::stages::{Build, CompiledForm, FormKey, PatchId, PatchKind, VarName};

/// Bytes per patch in the fan-out measurement: about a one-form side module.
const FANOUT_MODULE_BYTES: usize = 1024;

/// One measured step.
#[derive(Clone, Copy)]
enum Step {
    /// Change the form's value, then `jank.hotPatchForm` on it.
    Form(&'static str),
    /// Change the form and patch it (not measured), then patch it again unchanged.
    Unchanged(&'static str),
    /// Change the five forms, then `didSave`.
    Save,
    /// Change the form, then write the file and `didSave` it; timed on the pages' clock.
    SaveToPage(&'static str),
    /// Patch the form twice (not measured), then undo the second patch.
    Undo(&'static str),
}

/// Runs the selected scenarios against one rig, started only if a scenario needs it. `exe`
/// is `jank-hotpatch`, with `jank-standin` beside it. The first scenario that fails ends the
/// run with its error.
pub async fn run_all(
    exe: &Path,
    options: &BenchOptions,
    selected: &[&str],
    results: &mut BenchResults,
) -> Result<(), BenchError> {
    let needs_rig = selected.iter().any(|s| *s != "headers");
    let mut rig = match needs_rig {
        true => Some(Rig::start(exe, options.pages).await?),
        false => None,
    };
    let mut outcome = Ok(());
    let in_turn: Vec<&str> = IN_TURN.iter().copied().filter(|name| selected.contains(name)).collect();
    // The saves' rows go first: `watch` copies the workspace, where the macro row's files
    // would give it patches of its own to make when it starts.
    let (first, rest): (Vec<&str>, Vec<&str>) =
        selected.iter().copied().filter(|name| !in_turn.contains(name)).partition(|name| SAVES_FIRST.contains(name));
    for name in first.into_iter().map(Some).chain([None]).chain(rest.into_iter().map(Some)) {
        if outcome.is_err() {
            break;
        }
        let measured = match (name, rig.as_mut()) {
            (Some(name), rig) => {
                run_scenario(exe, options, name, results, rig).await.map_err(|e| (name.to_string(), e))
            }
            (None, Some(rig)) if !in_turn.is_empty() => measure_in_turn(rig, &in_turn, options)
                .await
                .map(|rows| results.scenarios.extend(rows))
                .map_err(|e| (in_turn.join(", "), e)),
            (None, _) => Ok(()),
        };
        if let Err((scenario, e)) = measured {
            outcome = Err(BenchError::Scenario { scenario, source: Box::new(e) });
        }
    }
    // The table's order, whatever order they ran in (`headers` makes rows named after it).
    results.scenarios.sort_by_key(|row| {
        let exactly = SCENARIOS.iter().position(|name| *name == row.name);
        exactly.or_else(|| SCENARIOS.iter().position(|name| row.name.starts_with(name)))
    });
    if let Some(rig) = rig {
        rig.stop().await;
    }
    outcome
}

async fn run_scenario(
    exe: &Path,
    options: &BenchOptions,
    name: &str,
    results: &mut BenchResults,
    rig: Option<&mut Rig>,
) -> Result<(), BenchError> {
    let (n, warmup, pages) = (options.iterations, options.warmup, options.pages);
    let Some(rig) = rig.filter(|_| name != "headers") else {
        results.scenarios.extend(headers(n, warmup).await?);
        return Ok(());
    };
    let row = match name {
        "emcc-o0" => baselines::measure(rig, Way::EmccO0, warmup, n).await?,
        "original" => baselines::measure(rig, Way::Original, warmup, n).await?,
        "save-page" => {
            let samples = measure(rig, Step::SaveToPage(SAVED_FORM), warmup.max(1), n, pages).await?;
            ScenarioResult::from_samples("save-page", "one small form saved, page's clock", &samples).with_note(
                "measured as JavaScript tools publish theirs: from just before the file is written (then LSP didSave) to the \
                 moment the page saw the new code (its jank-hotpatch:after-load event), on the wall clock both share; \
                 its EDITOR column is that, not the editor's clock",
            )
        }
        "save-watch" => {
            // As a user sits, one demo page draws: watch's. The rig's own pages are paused meanwhile.
            rig.set_drawing(false).await?;
            let row = super::watch::measure(exe, rig, warmup.max(1), n, pages).await;
            rig.set_drawing(true).await?;
            row?
        }
        "cache" => {
            let samples = measure(rig, Step::Unchanged(CACHE_FORM), warmup, n, pages).await?;
            ScenarioResult::from_samples("cache", "unchanged form (cache hit)", &samples)
                .with_note("each form is patched once, then again unchanged; the second patch is measured")
        }
        "pages10" => {
            let many = options.many_pages();
            rig.open_pages(many).await?;
            let samples = measure(rig, Step::Form(SMALL_FORM), warmup, n, many).await;
            rig.close_pages(pages).await?;
            let deliver = fanout::measure(warmup, many, n, FANOUT_MODULE_BYTES, rig.scratch()).await?;
            results.fanout = Some(Fanout { pages: many, module_bytes: FANOUT_MODULE_BYTES, deliver });
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            ScenarioResult::from_samples("pages10", &format!("one small form, {many} pages"), &samples?).with_note(
                format!("{many} Chromium renderers share this machine's {cores} cores with the build; the sidecar's own fan-out to {many} pages is measured apart (fan-out)"),
            )
        }
        "undo" => {
            let samples = measure(rig, Step::Undo(SMALL_FORM), warmup, n, pages).await?;
            ScenarioResult::from_samples("undo", "undo one form (no build)", &samples)
                .with_note("the form is patched twice, then jank.undoPatch takes it back to the first version")
        }
        "soak" => {
            let (row, soak) = soak(rig, options.soak_patches(), pages).await?;
            results.soak = Some(soak);
            row
        }
        other => return Err(BenchError::UnknownScenario(other.to_string())),
    };
    results.scenarios.push(row);
    Ok(())
}

/// The rows the goals compare with each other, measured in turn, one patch of each at a time:
/// the machine's drift during a run (other load, the file system's state) then falls on all of
/// them alike, where row after row it could favour one. The floor comes first in each round,
/// so that the page's first frame after the idle row's pause falls while the floor asks jank
/// for its C++, before its clock starts.
const IN_TURN: [&str; 5] = ["floor", "small", "small-idle", "save5", "macro20"];

/// The rows that run before those measured in turn.
const SAVES_FIRST: [&str; 2] = ["save-page", "save-watch"];

/// At least one warm-up round: the first save also patches the demo's own forms, never patched
/// before. Then `options.iterations` rounds, each taking one sample of each row in `names` (of
/// [`IN_TURN`]).
async fn measure_in_turn(
    rig: &mut Rig,
    names: &[&str],
    options: &BenchOptions,
) -> Result<Vec<ScenarioResult>, BenchError> {
    let pages = options.pages;
    let mut floor = match names.contains(&"floor") {
        true => Some(baselines::Baseline::start(rig, Way::Floor).await?),
        false => None,
    };
    let mut samples: Vec<Vec<Sample>> = names.iter().map(|_| Vec::new()).collect();
    let warmup = options.warmup.max(1);
    for round in 0..warmup + options.iterations {
        // A warm-up round's patch is checked like the others and not kept.
        let (unkept, kept) = if round < warmup { (1, 0) } else { (0, 1) };
        for (name, samples) in names.iter().zip(samples.iter_mut()) {
            let sample = match *name {
                "floor" => match floor.as_mut() {
                    Some(floor) => vec![floor.sample(rig).await?],
                    None => Vec::new(),
                },
                "small" => measure(rig, Step::Form(SMALL_FORM), unkept, kept, pages).await?,
                "small-idle" => {
                    rig.set_drawing(false).await?;
                    let sample = measure(rig, Step::Form(SMALL_FORM), unkept, kept, pages).await;
                    rig.set_drawing(true).await?;
                    sample?
                }
                "save5" => measure(rig, Step::Save, unkept, kept, pages).await?,
                "macro20" => measure_macro(rig, unkept, kept, pages).await?,
                other => return Err(BenchError::UnknownScenario(other.to_string())),
            };
            samples.extend(sample.into_iter().take(kept));
        }
    }
    let mut rows = Vec::new();
    for (name, samples) in names.iter().zip(&samples) {
        rows.push(match *name {
            "floor" => match &floor {
                Some(floor) => floor.row(samples),
                None => continue,
            },
            "small" => ScenarioResult::from_samples("small", "one small form", samples)
                .with_note("the demo page as users run it: it draws a frame every display refresh"),
            "small-idle" => ScenarioResult::from_samples("small-idle", "one small form, idle page", samples).with_note(
                "the demo page with its frame loop paused (requestAnimationFrame held), as a page left open and idle",
            ),
            "save5" => ScenarioResult::from_samples("save5", "file save, 5 forms changed", samples)
                .with_note("didChange of 5 defns + didSave, timed until jank/patchStatus arrives"),
            _ => ScenarioResult::from_samples("macro20", &format!("a macro change re-patching {MACRO_USERS} users"), samples)
                .with_note(format!(
                    "didChange of a defmacro + jank.hotPatchFile on its file, which re-patches the {MACRO_USERS} definitions \
                     using it in 4 other files; each step checks that the page loaded them in one side module"
                )),
        });
    }
    Ok(rows)
}

/// `warmup` unmeasured then `iterations` measured steps; every report and every page is
/// checked after every step, and the first thing wrong ends the scenario.
async fn measure(
    rig: &mut Rig,
    step: Step,
    warmup: usize,
    iterations: usize,
    pages: usize,
) -> Result<Vec<Sample>, BenchError> {
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..warmup + iterations {
        let (report, clock, forms, last, expected) = match step {
            Step::Form(name) => {
                let value = rig.fresh_value();
                rig.set(name, value).await?;
                let (report, clock) = rig.patch_form(name).await?;
                (report, clock, 1, name, value)
            }
            Step::Unchanged(name) => {
                let value = rig.fresh_value();
                patch_unmeasured(rig, name, value, pages, "first patch").await?;
                let (report, clock) = rig.patch_form(name).await?;
                (report, clock, 1, name, value)
            }
            Step::Undo(name) => {
                let first = rig.fresh_value();
                patch_unmeasured(rig, name, first, pages, "patch before the undo").await?;
                let second = rig.fresh_value();
                patch_unmeasured(rig, name, second, pages, "patch before the undo").await?;
                let (report, clock) = rig.undo_form(name).await?;
                (report, clock, 1, name, first)
            }
            Step::Save => {
                let forms: Vec<(&str, i64)> = SAVE_FORMS.iter().map(|name| (*name, rig.fresh_value())).collect();
                rig.set_all(&forms).await?;
                let (report, clock) = rig.save().await?;
                let expected =
                    if i < warmup { report["forms"].as_array().map_or(0, Vec::len) } else { SAVE_FORMS.len() };
                let last = SAVE_FORMS[SAVE_FORMS.len() - 1];
                (report, clock, expected, last, rig.current_value(last))
            }
            Step::SaveToPage(name) => {
                let value = rig.fresh_value();
                rig.set(name, value).await?;
                let (report, clock) = rig.save_to_page().await?;
                // The first save also patches the demo's own forms, never patched before.
                let expected = if i < warmup { report["forms"].as_array().map_or(0, Vec::len) } else { 1 };
                (report, clock, expected, name, value)
            }
        };
        if let Some(problem) = report_problem(&report, forms, pages) {
            return Err(BenchError::NotApplied(format!("{}: {problem}", step_name(step))));
        }
        rig.check_pages(last, expected).await?;
        if i >= warmup {
            samples.push(sample_of(&report, clock)?);
        }
    }
    Ok(samples)
}

/// `warmup` unmeasured then `iterations` measured changes of the macro; after each, the report
/// must list every user patched, the first page must have loaded exactly one module more, and
/// every page must run every user's new expansion.
async fn measure_macro(
    rig: &mut Rig,
    warmup: usize,
    iterations: usize,
    pages: usize,
) -> Result<Vec<Sample>, BenchError> {
    let mut samples = Vec::with_capacity(iterations);
    rig.macro_files().await?;
    for i in 0..warmup + iterations {
        let factor = rig.fresh_value();
        let before = rig.modules_loaded().await?;
        let (report, clock) = rig.change_macro(factor).await?;
        if let Some(problem) = report_problem(&report, 1, pages) {
            return Err(BenchError::NotApplied(format!("the macro: {problem}")));
        }
        let users = report["dependents"].as_array().map_or(0, |d| d.iter().filter(|d| d["ok"] == true).count());
        if users != MACRO_USERS {
            return Err(BenchError::NotApplied(format!("re-patched {users} users, expected {MACRO_USERS}: {report}")));
        }
        let after = rig.modules_loaded().await?;
        if after != before + 1 {
            return Err(BenchError::NotApplied(format!(
                "the page loaded {} modules for one macro change, expected 1",
                after - before
            )));
        }
        rig.check_macro_users(factor).await?;
        if i >= warmup {
            samples.push(sample_of(&report, clock)?);
        }
    }
    Ok(samples)
}

/// Sets the form `name` to `value` and patches it, without measuring: an error (naming `what`
/// patch it was) unless every page applied it.
async fn patch_unmeasured(rig: &mut Rig, name: &str, value: i64, pages: usize, what: &str) -> Result<(), BenchError> {
    rig.set(name, value).await?;
    let (report, _) = rig.patch_form(name).await?;
    match report_problem(&report, 1, pages) {
        Some(problem) => Err(BenchError::NotApplied(format!("{name}, {what}: {problem}"))),
        None => Ok(()),
    }
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Form(name) | Step::Unchanged(name) | Step::Undo(name) | Step::SaveToPage(name) => name,
        Step::Save => "save",
    }
}

/// Many successive patches of one form: the sidecar's RSS and the pages' memory before and
/// after.
async fn soak(rig: &mut Rig, patches: usize, pages: usize) -> Result<(ScenarioResult, Soak), BenchError> {
    let pid = rig.sidecar_pid().ok_or_else(|| BenchError::Gone("the sidecar has exited".into()))?;
    let mut before = Vec::new();
    for page in rig.pages() {
        before.push(page_memory(page).await?);
    }
    let rss_before = rss_kib(pid, "the sidecar")?;
    let samples = measure(rig, Step::Form(SOAK_FORM), 0, patches, pages).await?;
    let rss_after = rss_kib(pid, "the sidecar")?;
    let mut soak =
        Soak { patches, sidecar_rss_kib_before: rss_before, sidecar_rss_kib_after: rss_after, pages: Vec::new() };
    for (page, before) in rig.pages().iter().zip(before) {
        soak.pages.push(PageSoak { before, after: page_memory(page).await? });
    }
    let row = ScenarioResult::from_samples("soak", &format!("{patches} successive patches"), &samples);
    Ok((row, soak))
}

/// A fork-shaped patch whose function uses `<string>` and `<vector>`.
fn headers_cpp(id: u64, value: u64) -> String {
    format!(
        r#"// Auto-generated WASM hot-reload patch
// Patch ID: {id}
#include <stdint.h>
#include <string>
#include <vector>
extern "C" {{
extern void *jank_make_string(const char *str);
struct patch_symbol {{ const char *qualified_name; const char *signature; void *fn_ptr; }};
__attribute__((visibility("default")))
void *jank_demo_core_bench_words_{id}() {{
  std::vector<std::string> words{{"patched", std::to_string({value}), "times"}};
  std::string joined;
  for (const auto &w : words) joined += w + " ";
  return jank_make_string(joined.c_str());
}}
__attribute__((visibility("default")))
patch_symbol *jank_patch_symbols_{id}(int *count) {{
  static patch_symbol symbols[] = {{ {{ "demo.core/bench-words", "0", (void *)jank_demo_core_bench_words_{id} }} }};
  *count = 1;
  return symbols;
}}
}}
"#
    )
}

/// Builds a `<string>` + `<vector>` patch through the build stage directly, without and with
/// the precompiled header: the stand-in jank emits only the fork's `<stdint.h>` C++, so no
/// form of ours reaches these headers through the whole loop.
async fn headers(iterations: usize, warmup: usize) -> Result<Vec<ScenarioResult>, BenchError> {
    let scratch = std::env::temp_dir().join(format!("jank-hotpatch-bench-headers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let outcome = build_headers(&scratch, iterations, warmup).await;
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

async fn build_headers(scratch: &Path, iterations: usize, warmup: usize) -> Result<Vec<ScenarioResult>, BenchError> {
    const NOTE: &str = "the stand-in jank emits only the fork's <stdint.h> C++, so these rows build a fork-shaped patch \
                        using <string> and <vector> through the build stage (SideModuleBuilder) alone: build time only, nothing delivered";
    let rows = [
        ("headers", "<string>+<vector>, no PCH", false, None),
        ("headers-pch", "<string>+<vector>, with PCH", true, None),
        ("headers-pch-process", "<string>+<vector>, PCH, process toolchain", true, Some(Toolchain::Clang)),
    ];
    let mut results = Vec::new();
    let mut next_id = 1u64;
    for (name, title, pch, toolchain) in rows {
        let mut settings = Settings::default().build;
        settings.toolchain = toolchain.unwrap_or(settings.toolchain);
        settings.pch_headers = match pch {
            true => vec!["<string>".into(), "<vector>".into()],
            false => Vec::new(),
        };
        let builder = SideModuleBuilder::new(&settings, &scratch.join(name))
            .await
            .map_err(|e| BenchError::Missing(format!("the build stage cannot start: {e}")))?;
        if pch && builder.pch().is_none() {
            return Err(BenchError::Missing(
                "the build stage made no precompiled header for <string>, <vector>; see its warning".into(),
            ));
        }
        let mut samples = Vec::new();
        for i in 0..warmup + iterations {
            let id = next_id;
            next_id += 1;
            let cpp = headers_cpp(id, id);
            let form = CompiledForm {
                patch_id: PatchId(id),
                cpp: cpp.clone(),
                var: VarName::new("demo.core", "bench-words"),
                kind: PatchKind::Definition,
                warnings: Vec::new(),
            };
            let key = FormKey(*blake3::hash(cpp.as_bytes()).as_bytes());
            let started = Instant::now();
            Build::build(&builder, key, &form)
                .await
                .map_err(|e| BenchError::Build(format!("building a <string>/<vector> patch failed: {e}")))?;
            let build_ms = started.elapsed().as_secs_f64() * 1000.0;
            if i >= warmup {
                let stages = [None, None, Some(build_ms), None, None, None];
                samples.push(Sample { stages, clock: build_ms, sidecar: None, steps: None });
            }
        }
        let mut row = ScenarioResult::from_samples(name, title, &samples);
        if name == "headers-pch-process" {
            row = row.with_note(format!(
                "{NOTE}; `headers`, `headers-pch`: build.toolchain as the sidecar defaults to it; `headers-pch-process`: build.toolchain = clang"
            ));
        }
        results.push(row);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real build stage (needs emscripten): with the PCH the same patch builds faster,
    /// and both builds produce a module.
    #[tokio::test]
    async fn header_patches_build_with_and_without_the_pch() {
        let rows = headers(2, 0).await.unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["headers", "headers-pch", "headers-pch-process"]);
        assert!(rows.iter().all(|r| r.samples == 2 && r.stage("build").is_some_and(|b| b.p50 > 0.0)), "{rows:?}");
        assert!(rows.iter().all(|r| r.sidecar_total.is_none() && r.stage("load").is_none()), "{rows:?}");
        assert!(rows[2].notes[0].contains("SideModuleBuilder"), "{rows:?}");
    }
}
