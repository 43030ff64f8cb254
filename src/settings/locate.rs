//! Finds where a value sits in a JSON text, so that errors found after parsing (a bad regex, a
//! wrong type, an unknown key) can name the line and column in the file.

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

/// Every value of one JSON text, indexed once: [`locate`] for many paths of the same text in
/// O(log n) each instead of a scan from the start each time (a settings file with thousands of
/// hooks is located hook by hook). Same answers as [`locate`], fallback included.
pub struct Locator<'a> {
    text: &'a str,
    /// Offset of the document's value (after leading whitespace).
    start: usize,
    /// Path → (key offset, value offset), the first of duplicate keys.
    nodes: std::collections::HashMap<Vec<Seg>, (usize, usize)>,
    /// Offset of the start of each line.
    lines: Vec<usize>,
}

impl<'a> Locator<'a> {
    /// Indexes `text`, which must be valid JSON (as for [`locate`]).
    pub fn new(text: &'a str) -> Locator<'a> {
        let mut s = Scanner { b: text.as_bytes(), i: 0 };
        s.ws();
        let start = s.i;
        let mut nodes = std::collections::HashMap::new();
        let mut path = Vec::new();
        s.index(&mut path, &mut nodes, 0);
        let lines = std::iter::once(0)
            .chain(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1))
            .collect();
        Locator { text, start, nodes, lines }
    }

    /// [`locate`]: 1-based (line, column) of the value at `path` (of its key when `key`), else of
    /// the deepest value found on the way.
    pub fn locate(&self, path: &[Seg], key: bool) -> (usize, usize) {
        self.line_col(self.offset(path, key))
    }

    /// [`locate_offset`]: the same place as a byte offset.
    pub fn offset(&self, path: &[Seg], key: bool) -> usize {
        for n in (1..=path.len()).rev() {
            if let Some(&(key_at, value_at)) = self.nodes.get(&path[..n]) {
                return if n == path.len() && key { key_at } else { value_at };
            }
        }
        self.start
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.lines.partition_point(|&s| s <= offset);
        let line_start = self.lines[line - 1];
        let column = String::from_utf8_lossy(&self.text.as_bytes()[line_start..offset]).chars().count() + 1;
        (line, column)
    }
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

    /// With the cursor on a value: records every value beneath it under its path (the first of
    /// duplicate keys, as [`Scanner::enter`] finds) and moves past it. Nesting deeper than
    /// serde_json accepts is skipped, not recursed into.
    fn index(
        &mut self,
        path: &mut Vec<Seg>,
        nodes: &mut std::collections::HashMap<Vec<Seg>, (usize, usize)>,
        depth: usize,
    ) -> Option<()> {
        match self.peek()? {
            b'{' if depth < 256 => {
                self.i += 1;
                loop {
                    self.ws();
                    if self.peek()? == b'}' {
                        self.i += 1;
                        return Some(());
                    }
                    let key_at = self.i;
                    let k = self.string()?;
                    self.ws();
                    self.i += 1; // ':'
                    self.ws();
                    path.push(Seg::Key(k));
                    // A repeated key: the first one is the one found; what is below this one is
                    // never reached.
                    let r = if nodes.contains_key(path.as_slice()) {
                        self.skip_value()
                    } else {
                        nodes.insert(path.clone(), (key_at, self.i));
                        self.index(path, nodes, depth + 1)
                    };
                    path.pop();
                    r?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.i += 1;
                    }
                }
            }
            b'[' if depth < 256 => {
                self.i += 1;
                let mut n = 0;
                loop {
                    self.ws();
                    if self.peek()? == b']' {
                        self.i += 1;
                        return Some(());
                    }
                    path.push(Seg::Index(n));
                    nodes.insert(path.clone(), (self.i, self.i));
                    let r = self.index(path, nodes, depth + 1);
                    path.pop();
                    r?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.i += 1;
                    }
                    n += 1;
                }
            }
            _ => self.skip_value(),
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

    /// The index answers exactly as the scan from the start, for every path of generated
    /// documents (existing, missing, through scalars, duplicate keys) and both `key` modes.
    #[test]
    fn the_locator_answers_as_locate_does() {
        use Seg::*;
        let mut texts = vec![
            "{\n  \"a\": [1, {\"b\\\"x\": \"q\"}],\n  \"hooks\": {\n    \"Pre\": [ {\"matcher\": \"(\"} ]\n  }\n}"
                .to_string(),
            "  {\"k\": 1, \"k\": {\"z\": [ ]}, \"é\": \"ü\\n\", \"n\": null}".to_string(),
            "[[], [[1]], {\"a\":{\"b\":{\"c\":[true, false]}}}]".to_string(),
            "\"scalar\"".to_string(),
        ];
        // Generated: nested objects and arrays with varied whitespace and unicode.
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        fn document(depth: usize, next: &mut dyn FnMut() -> usize) -> String {
            let ws = ["", " ", "\n  ", "\t"][next() % 4];
            match if depth > 3 { next() % 3 } else { next() % 6 } {
                0 => format!("{}", next() % 100),
                1 => format!("\"s{}é\\\"\"", next() % 10),
                2 => "null".into(),
                3 | 4 => {
                    let n = next() % 4;
                    let members: Vec<String> = (0..n)
                        .map(|_| format!("{ws}\"k{}\"{ws}:{ws}{}", next() % 3, document(depth + 1, next)))
                        .collect();
                    format!("{{{}{ws}}}", members.join(","))
                }
                _ => {
                    let n = next() % 4;
                    let items: Vec<String> = (0..n).map(|_| format!("{ws}{}", document(depth + 1, next))).collect();
                    format!("[{}{ws}]", items.join(","))
                }
            }
        }
        for _ in 0..200 {
            texts.push(document(0, &mut next));
        }
        let segs = [
            Key("a".into()),
            Key("k0".into()),
            Key("k1".into()),
            Key("k2".into()),
            Key("k".into()),
            Key("hooks".into()),
            Key("Pre".into()),
            Key("z".into()),
            Index(0),
            Index(1),
            Index(2),
            Index(3),
        ];
        let mut checked = 0;
        for text in &texts {
            assert!(serde_json::from_str::<serde_json::Value>(text).is_ok(), "{text}");
            let l = Locator::new(text);
            let mut paths: Vec<Vec<Seg>> = vec![vec![]];
            for _ in 0..4 {
                let more: Vec<Vec<Seg>> = paths
                    .iter()
                    .flat_map(|p| {
                        segs.iter().map(move |s| {
                            let mut q = p.clone();
                            q.push(s.clone());
                            q
                        })
                    })
                    .collect();
                paths.extend(more.into_iter().filter(|p| p.len() <= 4).take(3000));
            }
            for p in &paths {
                for key in [false, true] {
                    assert_eq!(l.locate(p, key), locate(text, p, key), "{text} {p:?} key={key}");
                    assert_eq!(l.offset(p, key), locate_offset(text, p, key), "{text} {p:?} key={key}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}
