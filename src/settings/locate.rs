//! Finds where a value sits in a JSON text, so that errors found after parsing (a bad regex, a
//! wrong type, an unknown key) can name the line and column in the file.

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Returns the 1-based (line, column) of the value at `path` (or of its key when `key` is true
/// and the last step is a key). Falls back to the deepest location found. `text` must be valid
/// JSON (this is only called after `serde_json` accepted it).
pub fn locate(text: &str, path: &[Seg], key: bool) -> (usize, usize) {
    line_col(text, locate_offset(text, path, key))
}

/// `locate`, as a byte offset into `text`.
pub fn locate_offset(text: &str, path: &[Seg], key: bool) -> usize {
    let mut s = Scanner { b: text.as_bytes(), i: 0 };
    s.ws();
    let mut best = s.i;
    for (n, seg) in path.iter().enumerate() {
        let last = n + 1 == path.len();
        match s.enter(seg) {
            Some((key_at, value_at)) => {
                best = if last && key { key_at } else { value_at };
            }
            None => break,
        }
    }
    best
}

/// The byte span of the element at `path`: `(start, value_start, end)`, where `start` is the
/// key of an object member (the value itself for an array element) and `end` is just past the
/// value. `None` when the path does not exist. `text` must be valid JSON.
pub fn element_span(text: &str, path: &[Seg]) -> Option<(usize, usize, usize)> {
    let mut s = Scanner { b: text.as_bytes(), i: 0 };
    s.ws();
    let mut span = None;
    for seg in path {
        let (key_at, value_at) = s.enter(seg)?;
        span = Some((key_at, value_at));
    }
    let (start, value_at) = span?;
    s.i = value_at;
    s.skip_value()?;
    Some((start, value_at, s.i))
}

/// The byte offset of 1-based (`line`, `column`) in `text` (columns count characters).
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut off = 0;
    for (n, l) in text.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            return off + l.char_indices().nth(column.saturating_sub(1)).map_or(l.len(), |(i, _)| i);
        }
        off += l.len();
    }
    text.len()
}

pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// With the cursor on a container, moves it to the value of `seg`; returns (key, value) offsets.
    fn enter(&mut self, seg: &Seg) -> Option<(usize, usize)> {
        match (self.peek()?, seg) {
            (b'{', Seg::Key(want)) => {
                self.i += 1;
                loop {
                    self.ws();
                    if self.peek()? == b'}' {
                        return None;
                    }
                    let key_at = self.i;
                    let k = self.string()?;
                    self.ws();
                    self.i += 1; // ':'
                    self.ws();
                    if &k == want {
                        return Some((key_at, self.i));
                    }
                    self.skip_value()?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.i += 1;
                    }
                }
            }
            (b'[', Seg::Index(want)) => {
                self.i += 1;
                let mut n = 0;
                loop {
                    self.ws();
                    if self.peek()? == b']' {
                        return None;
                    }
                    if n == *want {
                        return Some((self.i, self.i));
                    }
                    self.skip_value()?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.i += 1;
                    }
                    n += 1;
                }
            }
            _ => None,
        }
    }

    fn string(&mut self) -> Option<String> {
        let start = self.i;
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    let raw = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                    return serde_json::from_str(raw).ok();
                }
                _ => self.i += 1,
            }
        }
        None
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                while self.i < self.b.len() {
                    match self.b[self.i] {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while self.i < self.b.len()
                    && !matches!(self.b[self.i], b',' | b'}' | b']')
                    && !self.b[self.i].is_ascii_whitespace()
                {
                    self.i += 1;
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values_and_keys() {
        let text =
            "{\n  \"a\": [1, {\"b\\\"x\": \"q\"}],\n  \"hooks\": {\n    \"Pre\": [ {\"matcher\": \"(\"} ]\n  }\n}";
        let p = |v: &[Seg]| v.to_vec();
        use Seg::*;
        assert_eq!(
            locate(text, &p(&[Key("hooks".into()), Key("Pre".into()), Index(0), Key("matcher".into())]), false),
            (4, 26)
        );
        assert_eq!(
            locate(text, &p(&[Key("hooks".into()), Key("Pre".into()), Index(0), Key("matcher".into())]), true),
            (4, 15)
        );
        assert_eq!(locate(text, &p(&[Key("a".into()), Index(1), Key("b\"x".into())]), false), (2, 21));
        // A missing key falls back to the deepest container found.
        assert_eq!(locate(text, &p(&[Key("hooks".into()), Key("nope".into())]), false), (3, 12));
    }
}
