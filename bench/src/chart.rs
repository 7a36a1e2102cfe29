//! The chart the README shows: one stacked bar per scenario, p50 per stage, as tall as the
//! editor's clock p50, drawn as SVG with `plotters`. The ways without a sidecar (floor,
//! emcc, the original exploration's way) stand beside our one small form, in run order.
//!
//! Owns: the chart's layout and colours. Must not measure anything.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::stats::STAGES;
use super::{BenchError, BenchResults};

/// Stacked from the bottom: the stages, then what the editor's clock holds beyond them.
const SEGMENTS: [&str; 7] =
    ["read", "compile (jank stand-in)", "build", "check", "deliver", "load", "other (sidecar, LSP, editor)"];
const COLOURS: [RGBColor; 7] = [
    RGBColor(0x9e, 0x9e, 0x9e),
    RGBColor(0x42, 0x85, 0xf4),
    RGBColor(0xf4, 0xa2, 0x3c),
    RGBColor(0x8e, 0x6c, 0xc9),
    RGBColor(0x34, 0xa8, 0x53),
    RGBColor(0xdb, 0x44, 0x37),
    RGBColor(0x60, 0x60, 0x60),
];

/// One bar: a scenario's p50 per segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub segments: [f64; 7],
    /// The editor's clock p50, written above the bar (p50s do not add up: when the stages'
    /// p50s sum to more, the bar is that much taller than this figure).
    pub clock: f64,
}

impl Bar {
    pub fn height(&self) -> f64 {
        self.segments.iter().sum()
    }
}

/// The bars in table order. The last segment is what the editor's clock p50 holds beyond
/// the stages' p50s, so a bar is as tall as its editor's clock p50 (or as the stages' sum).
pub fn bars(results: &BenchResults) -> Vec<Bar> {
    results
        .scenarios
        .iter()
        .map(|scenario| {
            let mut segments = [0.0; 7];
            for (i, stage) in STAGES.iter().enumerate() {
                segments[i] = scenario.stage(stage).map_or(0.0, |s| s.p50);
            }
            let stages: f64 = segments.iter().sum();
            segments[6] = (scenario.clock.p50 - stages).max(0.0);
            Bar { label: label(&scenario.name, &scenario.title), segments, clock: scenario.clock.p50 }
        })
        .collect()
}

/// A bar's label: short enough to sit under its bar; the table has the full titles.
fn label(name: &str, title: &str) -> String {
    let short = match name {
        "small" => "one form",
        "small-idle" => "one form, idle page",
        "save-page" => "saved, page's clock",
        "save-watch" => "watch, page's clock",
        "floor" => "floor",
        "emcc-o0" => "emcc -O0",
        "original" => "original (emcc -O2)",
        "cache" => "cache hit",
        "undo" => "undo",
        "save5" => "save of 5 forms",
        "headers" => "<string>+<vector>",
        "headers-pch" => "… with PCH",
        "headers-pch-process" => "… PCH, process",
        _ => title,
    };
    short.to_string()
}

/// Draws the chart to `path` (SVG), creating the directory.
pub fn draw(results: &BenchResults, path: &Path) -> Result<(), BenchError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
    }
    let bars = bars(results);
    render(&bars, &caption(results), path)
        .map_err(|e| BenchError::Output(format!("cannot draw {}: {e}", path.display())))
}

fn caption(results: &BenchResults) -> String {
    let mode = if results.mode == "smoke" { " — smoke run, not representative" } else { "" };
    format!(
        "jank-hotpatch: edit to applied on the editor's clock (p50 per stage, ms; compile = jank stand-in); {} UTC{mode}",
        results.machine.date
    )
}

fn render(bars: &[Bar], caption: &str, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let width = (160 + 130 * bars.len() as u32).max(900);
    let root = SVGBackend::new(path, (width, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    // Head room above the tallest bar for the legend in the upper left.
    let top = bars.iter().map(Bar::height).fold(1.0, f64::max) * 1.45;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        // An integer range includes its end: `0..n-1` makes n segments (at least two).
        .build_cartesian_2d((0..bars.len().max(2) - 1).into_segmented(), 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(RGBColor(0xf0, 0xf0, 0xf0))
        .y_desc("milliseconds (p50)")
        .x_labels(bars.len())
        .x_label_style(("sans-serif", 12))
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()?;
    for (s, (name, colour)) in SEGMENTS.iter().zip(COLOURS).enumerate() {
        let rects = bars.iter().enumerate().filter(|(_, bar)| bar.segments[s] > 0.0).map(|(i, bar)| {
            let bottom: f64 = bar.segments[..s].iter().sum();
            let mut rect = Rectangle::new(
                [(SegmentValue::Exact(i), bottom + bar.segments[s]), (SegmentValue::Exact(i + 1), bottom)],
                colour.filled(),
            );
            rect.set_margin(0, 0, 22, 22);
            rect
        });
        chart
            .draw_series(rects)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    chart.draw_series(bars.iter().enumerate().map(|(i, bar)| {
        Text::new(
            format!("{:.1} ms", bar.clock),
            (SegmentValue::CenterOf(i), bar.height() + top * 0.02),
            ("sans-serif", 13),
        )
    }))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::example;

    #[test]
    fn bars_stack_to_the_editors_clock_p50_in_run_order() {
        let results = example();
        let labels: Vec<String> = bars(&results).into_iter().map(|b| b.label).collect();
        assert_eq!(labels, ["one form", "floor", "original (emcc -O2)", "cache hit"]);
        let small = &bars(&results)[0];
        assert_eq!(small.segments[2], 42.0, "build p50");
        assert!((small.height() - 49.0).abs() < 1e-9, "as tall as its editor's clock p50: {small:?}");
        let floor = &bars(&results)[1];
        assert_eq!((floor.segments[0], floor.segments[3]), (0.0, 0.0), "no read, no check: nothing drawn");
    }

    #[test]
    fn draws_an_svg_with_every_bar_and_stage() {
        let path = std::env::temp_dir().join(format!("jh-bench-chart-{}/bench.svg", std::process::id()));
        draw(&example(), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        for text in ["one form", "original (emcc -O2)", "compile (jank stand-in)", "other (sidecar", "49.0 ms"] {
            let plain = text.replace("&apos;", "'");
            assert!(svg.contains(text) || svg.contains(&plain), "{text} missing");
        }
        assert!(svg.matches("<rect").count() > 8, "stacked bars are rectangles");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
