//! The pipeline: runs read -> compile -> build -> check -> deliver -> load for a selection
//! of forms, times every stage, and reports.

pub mod stages;
