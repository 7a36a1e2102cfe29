//! Memory figures: a process's resident set from /proc, and a page's JS heap and wasm memory
//! read through DevTools.
//!
//! Owns: how memory is measured. Must not start processes.

use serde::Serialize;

use super::chromium::Page;
use super::BenchError;

/// Resident memory of `pid` (VmRSS), in KiB; 0 when the process is gone.
pub fn rss_kib(pid: u32) -> u64 {
    proc_field(pid, "status", "VmRSS:")
}

/// Proportional resident memory (Pss: shared pages divided among their sharers) of `pid`
/// and all its descendants, in KiB: Chromium's processes share most of their pages, so their
/// RSS summed would count those many times.
pub fn tree_pss_kib(pid: u32) -> u64 {
    let mut total = 0;
    let mut stack = vec![pid];
    while let Some(pid) = stack.pop() {
        total += proc_field(pid, "smaps_rollup", "Pss:");
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            stack.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
    }
    total
}

/// A `<field> <n> kB` line of `/proc/<pid>/<file>`; 0 when the process is gone.
fn proc_field(pid: u32, file: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok().and_then(|text| field_kib(&text, field)).unwrap_or(0)
}

fn field_kib(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One page's memory at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PageMemory {
    /// `performance.memory.usedJSHeapSize` after a full GC (`--js-flags=--expose-gc`).
    pub js_heap_bytes: u64,
    /// The main module's linear memory.
    pub wasm_bytes: u64,
    /// The page's Chromium processes (Pss, KiB).
    pub pss_kib: u64,
}

/// GC first, so the heap figure is what the page keeps, not garbage waiting.
const PAGE_MEMORY_JS: &str = "(() => {
  if (typeof gc === 'function') gc();
  const M = window.Module || {};
  const wasm = M.HEAP8 ? M.HEAP8.buffer.byteLength : (M.wasmMemory ? M.wasmMemory.buffer.byteLength : 0);
  return { js: performance.memory ? performance.memory.usedJSHeapSize : 0, wasm };
})()";

pub async fn page_memory(page: &Page) -> Result<PageMemory, BenchError> {
    let value = page.eval(PAGE_MEMORY_JS).await?;
    Ok(PageMemory {
        js_heap_bytes: value["js"].as_u64().unwrap_or(0),
        wasm_bytes: value["wasm"].as_u64().unwrap_or(0),
        pss_kib: page.pss_kib(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss_from_proc_status() {
        assert_eq!(field_kib("Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t   12345 kB\n", "VmRSS:"), Some(12345));
        assert_eq!(field_kib("Name:\tx\n", "VmRSS:"), None);
        assert!(rss_kib(std::process::id()) > 0, "this test's own process has memory");
        assert!(tree_pss_kib(std::process::id()) > 0);
        assert_eq!(rss_kib(u32::MAX), 0, "a process that does not exist");
    }
}
