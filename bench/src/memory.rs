//! Memory figures: the sidecar's resident set from /proc, and a page's JS heap, wasm memory
//! and Chromium's proportional memory read through DevTools and /proc.
//!
//! Owns: how memory is measured. Must not start processes. A process that is gone is an
//! error, never 0.

use serde::{Deserialize, Serialize};
use test_support::cdp::{proc_kib, tree_pss_kib, Page};

use super::BenchError;

/// Resident memory of the process `pid` (VmRSS), in KiB; `what` names it in the error.
pub fn rss_kib(pid: u32, what: &str) -> Result<u64, BenchError> {
    proc_kib(pid, "status", "VmRSS:")
        .ok_or_else(|| BenchError::Gone(format!("{what} (pid {pid}) has exited: its memory cannot be read")))
}

/// One page's memory at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
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
  const wasm = M.HEAP8 ? M.HEAP8.buffer.byteLength : (M.wasmMemory ? M.wasmMemory.buffer.byteLength : null);
  return { js: performance.memory ? performance.memory.usedJSHeapSize : null, wasm };
})()";

pub async fn page_memory(page: &Page) -> Result<PageMemory, BenchError> {
    let value = page.try_eval(PAGE_MEMORY_JS).await.map_err(BenchError::Cdp)?;
    let field = |name: &str| {
        value[name]
            .as_u64()
            .ok_or_else(|| BenchError::Cdp(format!("the page does not tell its {name} memory: {value}")))
    };
    let pid = page.browser().pid().ok_or_else(|| BenchError::Gone("a page's Chromium has exited".into()))?;
    let pss_kib =
        tree_pss_kib(pid).ok_or_else(|| BenchError::Gone(format!("a page's Chromium (pid {pid}) has exited")))?;
    Ok(PageMemory { js_heap_bytes: field("js")?, wasm_bytes: field("wasm")?, pss_kib })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rss_of_a_process_that_is_gone_is_an_error() {
        assert!(rss_kib(std::process::id(), "this test").unwrap() > 0);
        let error = rss_kib(u32::MAX, "the sidecar").unwrap_err().to_string();
        assert!(error.contains("the sidecar") && error.contains("exited"), "{error}");
    }
}
