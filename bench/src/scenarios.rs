//! The scenarios: what each one edits, how it patches, and what it counts. Each turns into
//! one row of the table (the memory scenario also into the `soak` figures).
//!
//! Owns: the order of edits and patches per scenario. Must not start processes itself: the
//! `rig` does that.

use std::path::Path;
use std::time::Instant;

use super::memory::{page_memory, rss_kib};
use super::rig::{report_problem, sample_of, Rig, CACHE_FORM, SAVE_FORMS, SMALL_FORM, SOAK_FORM};
use super::stats::{Sample, ScenarioResult};
use super::{seed, BenchError, BenchOptions, BenchResults, PageSoak, Soak};
use jank_hotpatch::build::SideModuleBuilder;
use jank_hotpatch::config::Settings;
use jank_hotpatch::stages::{Build, CompiledForm, FormKey, PatchId, PatchKind, VarName};

/// One measured step.
#[derive(Clone, Copy)]
enum Step {
    /// Change the form's value, then `jank.hotPatchForm` on it.
    Form(&'static str),
    /// Change the form and patch it (not measured), then patch it again unchanged.
    Unchanged(&'static str),
    /// Change the five forms, then `didSave`.
    Save,
}

/// Runs the selected scenarios against one rig, started only if a scenario needs it.
/// `exe` is `jank-hotpatch`, with `jank-standin` beside it.
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
    let outcome = run_scenarios(options, selected, results, &mut rig).await;
    if let Some(rig) = rig {
        rig.stop().await;
    }
    outcome
}

async fn run_scenarios(
    options: &BenchOptions,
    selected: &[&str],
    results: &mut BenchResults,
    rig: &mut Option<Rig>,
) -> Result<(), BenchError> {
    let n = options.iterations;
    let pages = options.pages;
    for name in selected {
        let Some(rig) = rig.as_mut().filter(|_| *name != "headers") else {
            results.scenarios.extend(headers(n, options.warmup).await?);
            continue;
        };
        let failures = &mut results.failures;
        let row = match *name {
            "small" => {
                let samples = measure(rig, Step::Form(SMALL_FORM), options.warmup, n, pages, failures).await?;
                ScenarioResult::from_samples("small", "one small form", &samples)
            }
            "cache" => {
                let samples = measure(rig, Step::Unchanged(CACHE_FORM), options.warmup, n, pages, failures).await?;
                ScenarioResult::from_samples("cache", "unchanged form (cache hit)", &samples)
                    .with_note("each form is patched once, then again unchanged; the second patch is measured")
            }
            "pages10" => {
                let many = options.many_pages();
                rig.open_pages(many).await?;
                let samples = measure(rig, Step::Form(SMALL_FORM), options.warmup, n, many, failures).await;
                rig.close_pages(pages).await?;
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                ScenarioResult::from_samples("pages10", &format!("one small form, {many} pages"), &samples?)
                    .with_note(format!("{many} Chromium processes share this machine's {cores} cores with the build"))
            }
            "save5" => {
                // The first save also patches the demo's own forms, never patched before.
                let samples = measure(rig, Step::Save, options.warmup.max(1), n, pages, failures).await?;
                ScenarioResult::from_samples("save5", "file save, 5 forms changed", &samples)
                    .with_note("didChange of 5 defns + didSave, timed until jank/patchStatus arrives")
            }
            "soak" => {
                let (row, soak) = soak(rig, options.soak_patches(), pages, failures).await?;
                results.soak = Some(soak);
                row
            }
            "seed" => {
                let ours = results.scenario("small").cloned();
                let (row, baseline) = seed::measure(rig, n, ours.as_ref()).await?;
                results.seed = Some(baseline);
                row
            }
            other => return Err(BenchError::UnknownScenario(other.to_string())),
        };
        results.scenarios.push(row);
    }
    Ok(())
}

/// `warmup` unmeasured then `iterations` measured steps; every report and, at the end, every
/// page is checked, and what is wrong goes to `failures`.
async fn measure(
    rig: &mut Rig,
    step: Step,
    warmup: usize,
    iterations: usize,
    pages: usize,
    failures: &mut Vec<String>,
) -> Result<Vec<Sample>, BenchError> {
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..warmup + iterations {
        let (report, round_trip, forms) = match step {
            Step::Form(name) => {
                let value = rig.fresh_value();
                rig.set(name, value).await?;
                let (report, rt) = rig.patch_form(name).await?;
                (report, rt, 1)
            }
            Step::Unchanged(name) => {
                let value = rig.fresh_value();
                rig.set(name, value).await?;
                let (first, _) = rig.patch_form(name).await?;
                if let Some(problem) = report_problem(&first, 1, pages) {
                    failures.push(format!("{name}, first patch: {problem}"));
                }
                let (report, rt) = rig.patch_form(name).await?;
                (report, rt, 1)
            }
            Step::Save => {
                let forms: Vec<(&str, i64)> = SAVE_FORMS.iter().map(|name| (*name, rig.fresh_value())).collect();
                rig.set_all(&forms).await?;
                let (report, rt) = rig.save().await?;
                let expected =
                    if i < warmup { report["forms"].as_array().map_or(0, Vec::len) } else { SAVE_FORMS.len() };
                (report, rt, expected)
            }
        };
        if let Some(problem) = report_problem(&report, forms, pages) {
            failures.push(format!("{}: {problem}", step_name(step)));
        }
        if i >= warmup {
            samples.push(sample_of(&report, round_trip));
        }
    }
    let last = match step {
        Step::Form(name) | Step::Unchanged(name) => name,
        Step::Save => SAVE_FORMS[SAVE_FORMS.len() - 1],
    };
    let value = rig.current_value(last);
    failures.extend(rig.check_pages(last, value).await);
    Ok(samples)
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Form(name) | Step::Unchanged(name) => name,
        Step::Save => "save",
    }
}

/// Many successive patches of one form: the sidecar's RSS and the pages' memory before and
/// after.
async fn soak(
    rig: &mut Rig,
    patches: usize,
    pages: usize,
    failures: &mut Vec<String>,
) -> Result<(ScenarioResult, Soak), BenchError> {
    let pid = rig.sidecar_pid().ok_or_else(|| BenchError::Sidecar("the sidecar has exited".into()))?;
    let mut before = Vec::new();
    for page in rig.pages() {
        before.push(page_memory(page).await?);
    }
    let rss_before = rss_kib(pid);
    let samples = measure(rig, Step::Form(SOAK_FORM), 0, patches, pages, failures).await?;
    let rss_after = rss_kib(pid);
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
    const NOTE: &str = "the stand-in jank emits only the fork's <stdint.h> C++, so this row builds a fork-shaped patch \
                        using <string> and <vector> through the build stage (SideModuleBuilder) alone: build time only, nothing delivered";
    let mut rows = Vec::new();
    let mut next_id = 1u64;
    for (name, title, pch) in
        [("headers", "<string>+<vector>, no PCH", false), ("headers-pch", "<string>+<vector>, with PCH", true)]
    {
        let mut settings = Settings::default().build;
        if pch {
            settings.pch_headers = vec!["<string>".into(), "<vector>".into()];
        }
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
            };
            let key = FormKey(*blake3::hash(cpp.as_bytes()).as_bytes());
            let started = Instant::now();
            Build::build(&builder, key, &form)
                .await
                .map_err(|e| BenchError::Missing(format!("building a <string>/<vector> patch failed: {e}")))?;
            let build_ms = started.elapsed().as_secs_f64() * 1000.0;
            if i >= warmup {
                samples.push(Sample { stages: [0.0, 0.0, build_ms, 0.0, 0.0, 0.0], total: build_ms, round_trip: 0.0 });
            }
        }
        let row = ScenarioResult::from_samples(name, title, &samples).outside_sidecar();
        rows.push(if pch { row.with_note(NOTE) } else { row });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real build stage (needs emscripten): with the PCH the same patch builds faster,
    /// and both builds produce a module.
    #[tokio::test]
    async fn header_patches_build_with_and_without_the_pch() {
        let rows = headers(2, 0).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["headers", "headers-pch"]);
        assert!(rows.iter().all(|r| r.samples == 2 && r.stage_p50("build") > 0.0), "{rows:?}");
        assert!(rows[1].notes[0].contains("SideModuleBuilder"), "{rows:?}");
    }
}
