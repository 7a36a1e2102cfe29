//! Open documents as ropes, updated incrementally, and LSP positions (UTF-16 code units)
//! converted to and from byte offsets; the open `.jank` documents handed to the pipeline as
//! paths and text (a changed macro's users are read from them first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ropey::Rope;
use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent, Uri};

use crate::pipeline::{self, OpenBuffers};
use crate::stages::LineCol;

/// The open documents by URI, shared with the pipeline (which sees them as paths and text
/// through [`OpenBuffers`]).
#[derive(Clone, Default)]
pub struct OpenDocuments(pub Arc<Mutex<HashMap<Uri, Document>>>);

impl OpenDocuments {
    /// A poisoned lock only means a handler panicked; the documents are still usable.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uri, Document>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl OpenBuffers for OpenDocuments {
    fn open_jank_files(&self) -> Vec<pipeline::FileSnapshot> {
        self.lock()
            .iter()
            .filter(|(uri, _)| uri.path().as_str().ends_with(".jank"))
            .filter_map(|(uri, doc)| {
                let path = uri.to_file_path()?.into_owned();
                Some(pipeline::FileSnapshot { path, text: doc.text().into() })
            })
            .collect()
    }
}

/// One document open in the editor: its text as a rope, and its version.
pub struct Document {
    rope: Rope,
    pub version: i32,
}

/// Why a position or edit does not fit the document.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    #[error("line {line} is past the end of the document ({lines} lines)")]
    PastEnd { line: u32, lines: usize },
}

impl Document {
    pub fn new(text: &str, version: i32) -> Self {
        Document { rope: Rope::from_str(text), version }
    }

    pub fn text(&self) -> String {
        self.rope.to_string()
    }

    /// Applies one `didChange` event: a ranged edit, or the whole text when `range` is absent.
    /// Positions past the end of a line or of the document are clamped, as LSP asks.
    pub fn apply(&mut self, change: &TextDocumentContentChangeEvent) {
        match change.range {
            None => self.rope = Rope::from_str(&change.text),
            Some(range) => {
                let start = self.char_index_clamped(range.start);
                let end = self.char_index_clamped(range.end).max(start);
                self.rope.remove(start..end);
                self.rope.insert(start, &change.text);
            }
        }
    }

    /// The byte offset of an LSP position; a column past the end of its line means the end
    /// of the line, a line past the end of the document is an error.
    pub fn offset(&self, position: Position) -> Result<usize, PositionError> {
        let lines = self.rope.len_lines();
        if position.line as usize >= lines {
            return Err(PositionError::PastEnd { line: position.line, lines });
        }
        Ok(self.rope.char_to_byte(self.char_index_clamped(position)))
    }

    /// The LSP position of a byte offset (clamped to the document).
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.rope.len_bytes());
        let char_index = self.rope.byte_to_char(offset);
        self.position_of_char(char_index)
    }

    pub fn range(&self, range: &std::ops::Range<usize>) -> Range {
        Range { start: self.position(range.start), end: self.position(range.end) }
    }

    /// The LSP position of a line and character column (both 0-based, clamped).
    pub fn position_of_line_col(&self, at: LineCol) -> Position {
        let line = (at.line as usize).min(self.rope.len_lines().saturating_sub(1));
        let line_start = self.rope.line_to_char(line);
        let line_len = self.line_len_chars(line);
        self.position_of_char(line_start + (at.column as usize).min(line_len))
    }

    /// The end of the token starting at `start` (at least one character), to underline a
    /// whole symbol where jank gives only its first column. Reads the rope in place.
    pub fn token_end(&self, start: Position) -> Position {
        let Ok(offset) = self.offset(start) else { return start };
        let first = self.rope.byte_to_char(offset);
        let len = self.rope.chars_at(first).take_while(|c| !(c.is_whitespace() || "()[]{}\"".contains(*c))).count();
        self.position_of_char((first + len.max(1)).min(self.rope.len_chars()))
    }

    fn position_of_char(&self, char_index: usize) -> Position {
        let line = self.rope.char_to_line(char_index);
        let line_start = self.rope.line_to_char(line);
        let character = self.rope.char_to_utf16_cu(char_index) - self.rope.char_to_utf16_cu(line_start);
        Position { line: line as u32, character: character as u32 }
    }

    fn char_index_clamped(&self, position: Position) -> usize {
        let lines = self.rope.len_lines();
        if position.line as usize >= lines {
            return self.rope.len_chars();
        }
        let line = position.line as usize;
        let line_start = self.rope.line_to_char(line);
        let line_start_cu = self.rope.char_to_utf16_cu(line_start);
        let line_end_cu = self.rope.char_to_utf16_cu(line_start + self.line_len_chars(line));
        let cu = (line_start_cu + position.character as usize).min(line_end_cu);
        self.rope.utf16_cu_to_char(cu)
    }

    /// Characters of a line, without its line break.
    fn line_len_chars(&self, line: usize) -> usize {
        let slice = self.rope.line(line);
        let mut len = slice.len_chars();
        if len > 0 && slice.char(len - 1) == '\n' {
            len -= 1;
            if len > 0 && slice.char(len - 1) == '\r' {
                len -= 1;
            }
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(sl: u32, sc: u32, el: u32, ec: u32, text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range { start: Position::new(sl, sc), end: Position::new(el, ec) }),
            range_length: None,
            text: text.to_string(),
        }
    }

    /// The same edit on a plain string, computing UTF-16 positions the slow, obvious way.
    fn apply_to_string(text: &str, c: &TextDocumentContentChangeEvent) -> String {
        let to_byte = |p: Position| -> usize {
            let mut offset = 0;
            for (i, line) in text.split_inclusive('\n').enumerate() {
                if i == p.line as usize {
                    let content = line.trim_end_matches('\n');
                    let mut units = 0;
                    for (b, ch) in content.char_indices() {
                        if units >= p.character as usize {
                            return offset + b;
                        }
                        units += ch.len_utf16();
                    }
                    return offset + content.len();
                }
                offset += line.len();
            }
            text.len()
        };
        let range = c.range.unwrap();
        let (start, end) = (to_byte(range.start), to_byte(range.end));
        format!("{}{}{}", &text[..start], c.text, &text[end..])
    }

    #[test]
    fn incremental_edits_with_non_ascii_match_string_edits() {
        let initial = "(ns café.core)\n(defn 🎉 [x] \"é\" x)\n\n(def ñ 1)\n";
        let edits = [
            change(1, 6, 1, 8, "party"),     // replace the emoji (2 UTF-16 units)
            change(0, 4, 0, 8, "cafe"),      // replace "café"
            change(3, 5, 3, 6, "enye"),      // replace ñ
            change(1, 14, 1, 17, "\"ü🎉\""), // string with emoji
            change(2, 0, 2, 0, "; commentaire é\n"),
            change(0, 0, 0, 0, "🎉"),
            change(0, 2, 0, 3, "("),              // after an emoji at line start
            change(4, 100, 4, 100, " ; clamped"), // column past the end of the line
        ];
        let mut doc = Document::new(initial, 1);
        let mut expected = initial.to_string();
        for e in &edits {
            doc.apply(e);
            expected = apply_to_string(&expected, e);
            assert_eq!(doc.text(), expected, "after {e:?}");
        }
    }

    #[test]
    fn positions_round_trip_through_utf16() {
        let doc = Document::new("a🎉b\néx\n", 0);
        let offset = doc.offset(Position::new(0, 3)).unwrap();
        assert_eq!(&doc.text()[offset..offset + 1], "b");
        assert_eq!(doc.position(offset), Position::new(0, 3));
        assert_eq!(doc.position_of_line_col(LineCol { line: 1, column: 1 }), Position::new(1, 1));
        assert_eq!(doc.offset(Position::new(1, 99)).unwrap(), "a🎉b\néx".len());
        assert!(doc.offset(Position::new(9, 0)).is_err());
    }

    #[test]
    fn token_end_covers_the_symbol_in_utf16() {
        let doc = Document::new("(+ é🎉x 1)\n(f)", 0);
        assert_eq!(doc.token_end(Position::new(0, 3)), Position::new(0, 7));
        assert_eq!(doc.token_end(Position::new(0, 0)), Position::new(0, 1), "at least one character");
        assert_eq!(doc.token_end(Position::new(1, 3)), Position::new(1, 3), "at the end: nothing to extend");
    }
}
