//! Turning the pages' acks of one batch into the deliver stage's answer ([`Delivery`]): per
//! page, which patches loaded and why the others did not, the slowest page's load time, the
//! values and output (from the first page), and how the load hooks went.
//!
//! Owns: the wording of each load failure. Must not touch pages, sockets or the journal.

use std::collections::HashMap;

use super::hub::PageId;
use super::protocol::{HookResult, LoadResult, PatchHeader};
use crate::stages::{Delivery, PatchKind};

/// Turns the pages' acks into the stage's answer. `load_ms` is the slowest page's own load
/// time for the batch; `deliver_ms` the rest of the wall time.
pub(super) fn summarize(
    patches: &[PatchHeader],
    acks: &HashMap<PageId, Vec<LoadResult>>,
    connected: usize,
    elapsed_ms: f64,
) -> Delivery {
    let mut delivery = Delivery { pages: connected, ..Delivery::default() };
    let mut pages: Vec<_> = acks.iter().collect();
    pages.sort_by_key(|(id, _)| **id);
    if let Some((_, results)) = pages.first() {
        delivery.output = results.iter().flat_map(|r| r.output.iter().cloned()).collect();
        delivery.values = results.iter().filter_map(|r| Some((r.id, r.value.clone()?))).collect();
    }
    for (page, results) in pages {
        let load_ms: f64 = results.iter().map(|r| r.load_ms).sum();
        delivery.load_ms = delivery.load_ms.max(load_ms);
        let mut all_ok = results.len() == patches.len();
        for patch in patches {
            let form = &patch.origin.form;
            let place = format!("{}:{}", patch.origin.file, patch.origin.line);
            match results.iter().find(|r| r.id == patch.id) {
                Some(r) if r.ok => {
                    if patch.kind == PatchKind::Expression && delivery.value.is_none() {
                        delivery.value = r.value.clone();
                    }
                }
                Some(r) => {
                    all_ok = false;
                    let why = r.error.as_deref().unwrap_or("no reason given");
                    delivery
                        .failures
                        .push(format!("loading {} ({form}, {place}) failed in page {page}: {why}", patch.var));
                }
                None => {
                    all_ok = false;
                    delivery.failures.push(format!("page {page} did not report on {} ({form}, {place})", patch.var));
                }
            }
        }
        if all_ok {
            delivery.applied += 1;
        }
    }
    delivery.deliver_ms = (elapsed_ms - delivery.load_ms).max(0.0);
    delivery
}

/// Adds what the load hooks printed (the first page's) and the hooks that threw (every page's).
pub(super) fn add_hooks(delivery: &mut Delivery, mut hooks: Vec<(PageId, Vec<HookResult>)>) {
    hooks.sort_by_key(|(page, _)| *page);
    if let Some((_, called)) = hooks.first() {
        delivery.output.extend(called.iter().flat_map(|h| h.output.iter().cloned()));
    }
    for (page, called) in &hooks {
        for hook in called.iter().filter(|h| !h.ok) {
            let why = hook.error.as_deref().unwrap_or("no reason given");
            delivery.hook_failures.push(format!("load hook {} threw in page {page}: {why}", hook.var));
        }
    }
}
