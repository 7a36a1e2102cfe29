//! Reliability and security suite for jank-hotpatch: see `tests/`.
