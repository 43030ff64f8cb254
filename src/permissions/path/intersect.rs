//! Whether two path patterns can name the same path: a shell glob the command will expand
//! (`cat .e[n]v`, `cat s*/api.key`) against a rule pattern (`/p/.env`, `/p/secrets/**`), or a
//! rule against "anything below this directory". Decided exactly on automata (the product of
//! the two patterns' automata has a reachable accepting state), so the answer does not depend
//! on what exists on disk when the rule is checked.
//!
//! Shell globs: `*`, `?`, `[…]` (never `/`, never a leading `.` of a name), `\x` literal.
//! Rule patterns: `*` and `?` within a segment, `**` across segments, `**/` also nothing.

/// A set of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bytes([u64; 4]);

impl Bytes {
    const NONE: Bytes = Bytes([0; 4]);
    const ALL: Bytes = Bytes([u64::MAX; 4]);
    fn one(b: u8) -> Bytes {
        let mut s = Bytes::NONE;
        s.insert(b);
        s
    }
    fn insert(&mut self, b: u8) {
        self.0[(b >> 6) as usize] |= 1 << (b & 63);
    }
    fn remove(mut self, b: u8) -> Bytes {
        self.0[(b >> 6) as usize] &= !(1 << (b & 63));
        self
    }
    fn has(&self, b: u8) -> bool {
        self.0[(b >> 6) as usize] & (1 << (b & 63)) != 0
    }
    fn and(self, o: Bytes) -> Bytes {
        Bytes([self.0[0] & o.0[0], self.0[1] & o.0[1], self.0[2] & o.0[2], self.0[3] & o.0[3]])
    }
    fn not(self) -> Bytes {
        Bytes([!self.0[0], !self.0[1], !self.0[2], !self.0[3]])
    }
    fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }
}

/// One edge: bytes it accepts, the state it goes to, and whether it is a shell wildcard (which
/// cannot produce the leading `.` of a name).
#[derive(Debug, Clone, Copy)]
struct Edge {
    bytes: Bytes,
    to: usize,
    wild: bool,
}

/// A pattern as an automaton; state `accept` is the final one.
#[derive(Debug, Clone, Default)]
pub struct Pattern {
    eps: Vec<Vec<usize>>,
    edges: Vec<Vec<Edge>>,
}

impl Pattern {
    fn state(&mut self) -> usize {
        self.eps.push(Vec::new());
        self.edges.push(Vec::new());
        self.eps.len() - 1
    }
    fn new() -> Pattern {
        let mut p = Pattern::default();
        p.state();
        p
    }
    fn last(&self) -> usize {
        self.eps.len() - 1
    }
    fn step(&mut self, bytes: Bytes, wild: bool) {
        let from = self.last();
        let to = self.state();
        self.edges[from].push(Edge { bytes, to, wild });
    }
    /// A loop on the current state, then an ε move to a new one.
    fn star(&mut self, bytes: Bytes, wild: bool) {
        let at = self.last();
        self.edges[at].push(Edge { bytes, to: at, wild });
        let next = self.state();
        self.eps[at].push(next);
    }
    fn lit(&mut self, b: u8) {
        self.step(Bytes::one(b), false);
    }
    fn len(&self) -> usize {
        self.eps.len()
    }

    /// A plain path (every byte literal).
    pub fn literal(s: &str) -> Pattern {
        let mut p = Pattern::new();
        for b in s.bytes() {
            p.lit(b);
        }
        p
    }

    /// A rule pattern (`*`, `?`, `**`, `**/`).
    pub fn rule(s: &str) -> Pattern {
        let mut p = Pattern::new();
        let b = s.as_bytes();
        let not_slash = Bytes::ALL.remove(b'/');
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'*' if b.get(i + 1) == Some(&b'*') => {
                    i += 2;
                    if b.get(i) == Some(&b'/') {
                        // `**/`: nothing, or any run ending in `/`.
                        i += 1;
                        let at = p.last();
                        let inner = p.state();
                        let next = p.state();
                        let slash = Bytes::one(b'/');
                        p.eps[at].push(next);
                        p.edges[at].push(Edge { bytes: Bytes::ALL, to: inner, wild: false });
                        p.edges[at].push(Edge { bytes: slash, to: next, wild: false });
                        p.edges[inner].push(Edge { bytes: Bytes::ALL, to: inner, wild: false });
                        p.edges[inner].push(Edge { bytes: slash, to: next, wild: false });
                    } else {
                        p.star(Bytes::ALL, false);
                    }
                }
                b'*' => {
                    i += 1;
                    p.star(not_slash, false);
                }
                b'?' => {
                    i += 1;
                    p.step(not_slash, false);
                }
                c => {
                    i += 1;
                    p.lit(c);
                }
            }
        }
        p
    }

    /// A shell glob (`*`, `?`, `[…]`, `\x`); wildcards never match `/` nor a leading `.`.
    pub fn shell(s: &str) -> Pattern {
        let mut p = Pattern::new();
        let b = s.as_bytes();
        let not_slash = Bytes::ALL.remove(b'/');
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\\' if i + 1 < b.len() => {
                    p.lit(b[i + 1]);
                    i += 2;
                }
                b'*' => {
                    p.star(not_slash, true);
                    i += 1;
                }
                b'?' => {
                    p.step(not_slash, true);
                    i += 1;
                }
                b'[' => match class(&b[i..]) {
                    Some((set, used)) => {
                        p.step(set.and(not_slash), true);
                        i += used;
                    }
                    None => {
                        p.lit(b'[');
                        i += 1;
                    }
                },
                c => {
                    p.lit(c);
                    i += 1;
                }
            }
        }
        p
    }

    /// Appends `/` and "anything below".
    pub fn below(mut self) -> Pattern {
        self.lit(b'/');
        self.star(Bytes::ALL, false);
        self
    }
}

/// A bracket expression at the start of `b`: its byte set and length. POSIX classes
/// (`[:alpha:]`) are approximated by "any byte" (a larger set only makes more paths match).
fn class(b: &[u8]) -> Option<(Bytes, usize)> {
    let mut i = 1;
    let negate = matches!(b.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut set = Bytes::NONE;
    let mut first = true;
    while i < b.len() {
        let c = b[i];
        if c == b']' && !first {
            let set = if negate { set.not() } else { set };
            return Some((set, i + 1));
        }
        first = false;
        if c == b'[' && matches!(b.get(i + 1), Some(b':') | Some(b'=') | Some(b'.')) {
            set = Bytes::ALL;
            let close =
                b[i + 2..].windows(2).position(|w| w[1] == b']' && (w[0] == b':' || w[0] == b'=' || w[0] == b'.'))?;
            i += 2 + close + 2;
            continue;
        }
        let c = if c == b'\\' && i + 1 < b.len() {
            i += 1;
            b[i]
        } else {
            c
        };
        if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_some_and(|&e| e != b']') {
            let e = b[i + 2];
            for x in c..=e.max(c) {
                set.insert(x);
            }
            i += 3;
        } else {
            set.insert(c);
            i += 1;
        }
    }
    None
}

/// Largest product explored; beyond it the answer is "yes" (a deny or ask binds).
pub const MAX_PRODUCT: usize = 1 << 21;

/// Whether some path matches both `a` and `b`.
pub fn intersects(a: &Pattern, b: &Pattern) -> bool {
    let (na, nb) = (a.len(), b.len());
    if na.saturating_mul(nb).saturating_mul(2) > MAX_PRODUCT {
        return true;
    }
    let idx = |i: usize, j: usize, seg: bool| (i * nb + j) * 2 + seg as usize;
    let mut seen = vec![false; na * nb * 2];
    let mut stack = vec![(0usize, 0usize, false)];
    seen[idx(0, 0, false)] = true;
    let (acc_a, acc_b) = (na - 1, nb - 1);
    while let Some((i, j, seg)) = stack.pop() {
        if i == acc_a && j == acc_b {
            return true;
        }
        let mut push = |i: usize, j: usize, seg: bool, stack: &mut Vec<(usize, usize, bool)>| {
            let k = idx(i, j, seg);
            if !seen[k] {
                seen[k] = true;
                stack.push((i, j, seg));
            }
        };
        for &e in &a.eps[i] {
            push(e, j, seg, &mut stack);
        }
        for &e in &b.eps[j] {
            push(i, e, seg, &mut stack);
        }
        for ea in &a.edges[i] {
            for eb in &b.edges[j] {
                let mut set = ea.bytes.and(eb.bytes);
                if seg && (ea.wild || eb.wild) {
                    set = set.remove(b'.');
                }
                if set.is_empty() {
                    continue;
                }
                if set.has(b'/') {
                    push(ea.to, eb.to, true, &mut stack);
                }
                if !set.remove(b'/').is_empty() {
                    push(ea.to, eb.to, false, &mut stack);
                }
            }
        }
    }
    false
}

/// Whether the shell glob `pattern` matches the single name `name` (no `/` in either).
pub fn shell_match(pattern: &str, name: &str) -> bool {
    intersects(&Pattern::shell(&format!("/{pattern}")), &Pattern::literal(&format!("/{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(shell: &str, rule: &str) -> bool {
        intersects(&Pattern::shell(shell), &Pattern::rule(rule))
    }

    #[test]
    fn globs_against_rules() {
        assert!(x("/p/.e[n]v", "/p/.env"));
        assert!(x("/p/.e?v", "/p/.env"));
        assert!(x("/p/.en*", "/p/.env"));
        assert!(!x("/p/*", "/p/.env"), "`*` does not match a leading dot");
        assert!(!x("/p/*env", "/p/.env"));
        assert!(x("/p/.*", "/p/.env"));
        assert!(x("/p/s*/api.key", "/p/secrets/**"));
        assert!(x("/p/*/.env", "/p/**/.env"));
        assert!(!x("/p/*.txt", "/p/.env"));
        assert!(!x("/p/secret[^s]/k", "/p/secrets/**"));
        assert!(x("/p/\\.env", "/p/.env"));
        assert!(!x("/p/\\*", "/p/x"));
        assert!(!x("/p/[.]env", "/p/.env"), "a bracket cannot match a leading dot either");
        assert!(x("/p/x/*", "/p/x/a"));
        assert!(!x("/p/sub/*", "/**/.env"));
        assert!(x("/p/sub/.*", "/**/.env"));
    }

    #[test]
    fn below_directories() {
        assert!(intersects(&Pattern::rule("/p/secrets/**"), &Pattern::literal("/p").below()));
        assert!(intersects(&Pattern::rule("/p/.hookhost/**"), &Pattern::literal("/p").below()));
        assert!(!intersects(&Pattern::rule("/p/.hookhost/**"), &Pattern::literal("/p/target").below()));
        assert!(intersects(&Pattern::rule("/**/.env"), &Pattern::literal("/p/target").below()));
        assert!(intersects(&Pattern::rule("/p/**/x"), &Pattern::literal("/p").below()));
    }

    #[test]
    fn names() {
        assert!(shell_match("*.rs", "a.rs"));
        assert!(!shell_match("*.rs", ".a.rs"));
        assert!(shell_match(".*", ".env"));
        assert!(shell_match("[a-c]x", "bx"));
        assert!(!shell_match("[!a-c]x", "bx"));
    }
}
