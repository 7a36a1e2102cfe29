//! Reads the jank subset the stand-in understands into positioned forms (1-based line and
//! column relative to the code received, as jank reports them).

use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum Form {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Keyword { ns: Option<String>, name: String, auto: bool },
    Symbol(String),
    List(Vec<Node>),
    Vector(Vec<Node>),
    Map(Vec<Node>),
    Set(Vec<Node>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub form: Form,
    pub pos: Pos,
}

/// 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReadError {
    pub message: String,
    pub pos: Pos,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Node {
    pub fn symbol(&self) -> Option<&str> {
        match &self.form {
            Form::Symbol(s) => Some(s),
            _ => None,
        }
    }
}

/// Every top-level form of `code`.
pub fn read_all(code: &str) -> Result<Vec<Node>, ReadError> {
    let mut reader = Reader { chars: code.chars().collect(), at: 0, line: 1, column: 1 };
    let mut forms = Vec::new();
    while let Some(node) = reader.read_form(None)? {
        forms.push(node);
    }
    Ok(forms)
}

struct Reader {
    chars: Vec<char>,
    at: usize,
    line: u32,
    column: u32,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.column }
    }

    fn error<T>(&self, message: impl Into<String>, pos: Pos) -> Result<T, ReadError> {
        Err(ReadError { message: message.into(), pos })
    }

    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c == ';' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else if c.is_whitespace() || c == ',' {
                self.bump();
            } else {
                break;
            }
        }
    }

    /// The next form; `None` at the end of input or at `close`.
    fn read_form(&mut self, close: Option<char>) -> Result<Option<Node>, ReadError> {
        loop {
            self.skip_blank();
            let pos = self.pos();
            let Some(c) = self.peek() else {
                return match close {
                    Some(close) => self.error(format!("Unexpected end of file, expected '{close}'."), pos),
                    None => Ok(None),
                };
            };
            if Some(c) == close {
                self.bump();
                return Ok(None);
            }
            let form = match c {
                '(' | '[' | '{' => {
                    self.bump();
                    let end = match c {
                        '(' => ')',
                        '[' => ']',
                        _ => '}',
                    };
                    let items = self.read_until(end)?;
                    match c {
                        '(' => Form::List(items),
                        '[' => Form::Vector(items),
                        _ if items.len() % 2 == 1 => return self.error("Odd number of elements in map.", pos),
                        _ => Form::Map(items),
                    }
                }
                ')' | ']' | '}' => return self.error(format!("Unexpected closing character '{c}'."), pos),
                // Refused rather than misread as a symbol: macros here build their expansion
                // with `list` and `quote`.
                '`' | '~' => {
                    return self.error(format!("The stand-in does not read syntax-quote or unquote ({c})."), pos)
                }
                '"' => Form::Str(self.read_string(pos)?),
                '\'' => {
                    self.bump();
                    let Some(quoted) = self.read_form(None)? else {
                        return self.error("Expected a form after '.", pos);
                    };
                    Form::List(vec![Node { form: Form::Symbol("quote".into()), pos }, quoted])
                }
                '^' => {
                    // Metadata does not change what the stand-in emits: read it and drop it.
                    self.bump();
                    if self.read_form(None)?.is_none() {
                        return self.error("Expected metadata.", pos);
                    }
                    continue;
                }
                '#' => {
                    self.bump();
                    match self.bump() {
                        Some('{') => Form::Set(self.read_until('}')?),
                        Some('_') => {
                            if self.read_form(None)?.is_none() {
                                return self.error("Expected a form to discard.", pos);
                            }
                            continue;
                        }
                        other => {
                            return self.error(format!("Unsupported reader macro #{}.", other.unwrap_or(' ')), pos)
                        }
                    }
                }
                _ => self.read_atom(pos)?,
            };
            return Ok(Some(Node { form, pos }));
        }
    }

    fn read_until(&mut self, close: char) -> Result<Vec<Node>, ReadError> {
        let mut items = Vec::new();
        while let Some(node) = self.read_form(Some(close))? {
            items.push(node);
        }
        Ok(items)
    }

    fn read_string(&mut self, pos: Pos) -> Result<String, ReadError> {
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return self.error("Unterminated string.", pos),
                Some('"') => return Ok(text),
                Some('\\') => {
                    let escaped = match self.bump() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('\\') => '\\',
                        Some('"') => '"',
                        Some('a') => '\x07',
                        Some('v') => '\x0b',
                        Some('f') => '\x0c',
                        Some('b') => '\x08',
                        Some('?') => '?',
                        other => {
                            return self.error(
                                format!("String contains invalid escape sequence '\\{}'.", other.unwrap_or(' ')),
                                pos,
                            )
                        }
                    };
                    text.push(escaped);
                }
                Some(c) => text.push(c),
            }
        }
    }

    fn read_atom(&mut self, pos: Pos) -> Result<Form, ReadError> {
        let mut token = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | ';') {
                break;
            }
            token.push(c);
            self.bump();
        }
        if let Some(keyword) = token.strip_prefix(':') {
            let (auto, keyword) = match keyword.strip_prefix(':') {
                Some(rest) => (true, rest),
                None => (false, keyword),
            };
            if keyword.is_empty() {
                return self.error(format!("Invalid keyword: {token}."), pos);
            }
            let (ns, name) = split_symbol(keyword);
            return Ok(Form::Keyword { ns: ns.map(str::to_string), name: name.to_string(), auto });
        }
        let numeric = token.starts_with(|c: char| c.is_ascii_digit())
            || (token.len() > 1
                && token.starts_with(['-', '+'])
                && token[1..].starts_with(|c: char| c.is_ascii_digit()));
        if numeric {
            if let Ok(i) = token.parse::<i64>() {
                return Ok(Form::Int(i));
            }
            return match token.parse::<f64>() {
                Ok(f) => Ok(Form::Float(f)),
                Err(_) => self.error(format!("Invalid number: {token}."), pos),
            };
        }
        Ok(match token.as_str() {
            "nil" => Form::Nil,
            "true" => Form::Bool(true),
            "false" => Form::Bool(false),
            _ => Form::Symbol(token),
        })
    }
}

/// `ns/name` split at the slash; `/` alone is a name.
pub fn split_symbol(symbol: &str) -> (Option<&str>, &str) {
    match symbol.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => (Some(ns), name),
        _ => (None, symbol),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_forms() {
        let forms = read_all("(ns a)\n(defn f [x]\n  (set/union x :k \"a\\\"b\"))").unwrap();
        assert_eq!(forms.len(), 2);
        let Form::List(items) = &forms[1].form else { panic!() };
        let Form::List(call) = &items[3].form else { panic!() };
        assert_eq!(call[0].pos, Pos { line: 3, column: 4 });
        assert_eq!(call[0].form, Form::Symbol("set/union".into()));
        assert_eq!(call[3].form, Form::Str("a\"b".into()));
        assert!(read_all("(a").is_err());
        assert!(read_all("#{1 ^:x 2 #_ 3}").is_ok());
    }
}
