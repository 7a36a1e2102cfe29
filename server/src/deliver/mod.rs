//! The deliver and load stages: the HTTP + WebSocket server, the browser client, the
//! journal of latest patches.
//!
//! Owns: the app's static files, page connections and their token/Origin checks, sending
//! patches and collecting acks, the journal replayed to late pages. Must not know about
//! jank, toolchains or LSP.
