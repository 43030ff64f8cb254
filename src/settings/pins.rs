//! `hookhost pin --write`: sets the `sha256` of chosen hooks in a settings file's own text,
//! keeping everything else (key order, formatting), checks the result parses with the pins in
//! place, and replaces the file atomically. What a pin covers is `crate::trust`'s.

use std::collections::BTreeMap;
use std::path::Path;

use super::locate::{Locator, Seg};
use crate::atomic_file;
use crate::trust::TrustError;
use crate::vocab::Scope;

/// Sets `sha256` of the hooks of the settings file at `path` whose origin (line, column) is a
/// key of `pins`, preserving everything else in the text (key order, formatting): an existing
/// `sha256` value is replaced in place, a missing one is added as the object's last key. The
/// result is re-parsed and checked before the file is replaced atomically. Returns how many
/// hooks changed.
pub fn write_pins(path: &Path, scope: Scope, pins: &BTreeMap<(usize, usize), String>) -> Result<usize, TrustError> {
    let pin_err = |m: String| TrustError::Pin { path: path.to_path_buf(), message: m };
    let text = std::fs::read_to_string(path).map_err(|source| TrustError::Io { path: path.to_path_buf(), source })?;
    let bom = text.starts_with('\u{feff}');
    let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let (new_body, changed) = pin_text(body, pins).map_err(pin_err)?;
    if changed == 0 {
        return Ok(0);
    }
    let parsed = super::file::parse(&new_body, path, scope)
        .map_err(|e| pin_err(format!("the edited file does not parse ({e}); nothing written")))?;
    for h in &parsed.hooks {
        if let Some(want) = pins.get(&(h.origin.line, h.origin.column))
            && h.sha256.as_deref() != Some(want.as_str())
        {
            return Err(pin_err(format!("the pin of {} did not land; nothing written", h.label())));
        }
    }
    let out = if bom { format!("\u{feff}{new_body}") } else { new_body };
    atomic_file::replace(path, out.as_bytes(), atomic_file::Mode::KeepOr(0o644), None)
        .map_err(|source| TrustError::Io { path: path.to_path_buf(), source })?;
    Ok(changed)
}

/// The edit of [`write_pins`], on text: returns the new text and the number of hooks changed.
pub fn pin_text(text: &str, pins: &BTreeMap<(usize, usize), String>) -> Result<(String, usize), String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut edits: Vec<(usize, usize, String)> = Vec::new(); // (start, end, replacement)
    let Some(events) = value.get("hooks").and_then(|h| h.as_object()) else { return Ok((text.to_string(), 0)) };
    let at = Locator::new(text);
    for (event, groups) in events {
        for (gi, group) in groups.as_array().into_iter().flatten().enumerate() {
            for (hi, h) in group.get("hooks").and_then(|x| x.as_array()).into_iter().flatten().enumerate() {
                let segs = vec![
                    Seg::Key("hooks".into()),
                    Seg::Key(event.clone()),
                    Seg::Index(gi),
                    Seg::Key("hooks".into()),
                    Seg::Index(hi),
                ];
                let Some(pin) = pins.get(&at.locate(&segs, false)) else { continue };
                let Some(obj) = h.as_object() else { continue };
                if obj.get("sha256").and_then(|v| v.as_str()) == Some(pin.as_str()) {
                    continue;
                }
                let start = at.offset(&segs, false);
                let end = start + value_len(&text[start..])?;
                if obj.contains_key("sha256") {
                    let mut s = segs.clone();
                    s.push(Seg::Key("sha256".into()));
                    let vs = at.offset(&s, false);
                    let ve = vs + value_len(&text[vs..])?;
                    edits.push((vs, ve, format!("\"{pin}\"")));
                } else {
                    edits.push(insert_key(text, start, end, "sha256", pin)?);
                }
            }
        }
    }
    let changed = edits.len();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (s, e, r) in edits {
        out.replace_range(s..e, &r);
    }
    Ok((out, changed))
}

/// The length in bytes of the JSON value at the start of `text`.
fn value_len(text: &str) -> Result<usize, String> {
    let mut it = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
    match it.next() {
        Some(Ok(_)) => Ok(it.byte_offset()),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("no value".into()),
    }
}

/// An insertion of `"key": "value"` as the last member of the object spanning `start..end`,
/// in the object's own style (one line, or one member per line with its indentation).
fn insert_key(text: &str, start: usize, end: usize, key: &str, value: &str) -> Result<(usize, usize, String), String> {
    let obj = &text[start..end];
    if !obj.starts_with('{') || !obj.ends_with('}') {
        return Err("a hook is not a JSON object".into());
    }
    let inner = &obj[1..obj.len() - 1];
    let last = inner.trim_end().len(); // offset in `inner` after the last member
    let at = start + 1 + last;
    let lead: &str = &inner[..inner.len() - inner.trim_start().len()];
    let member = format!("\"{key}\": \"{value}\"");
    let sep = if inner.trim().is_empty() { "" } else { "," };
    let insertion = match lead.rfind('\n') {
        Some(i) => format!("{sep}\n{}{member}", &lead[i + 1..]),
        None if inner.trim().is_empty() => member,
        None => format!("{sep} {member}"),
    };
    Ok((at, at, insertion))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_text_preserves_the_rest() {
        let text = r#"{
  "z": 1,
  "hooks": {
    "PreToolUse": [
      {"matcher": "Bash", "hooks": [
        {"type": "command", "command": "a"},
        {
          "type": "command",
          "command": "b",
          "sha256": "0000000000000000000000000000000000000000000000000000000000000000"
        }
      ]}
    ],
    "Stop": [{"hooks": [{"type":"command","command":"c"}]}]
  },
  "a": 2
}
"#;
        let path = Path::new("/s.json");
        let f = crate::settings::file::parse(text, path, Scope::Project).unwrap();
        let pin = "ab".repeat(32);
        let pins: BTreeMap<_, _> = f.hooks.iter().map(|h| ((h.origin.line, h.origin.column), pin.clone())).collect();
        let (out, n) = pin_text(text, &pins).unwrap();
        assert_eq!(n, 3);
        let g = crate::settings::file::parse(&out, path, Scope::Project).unwrap();
        assert!(g.hooks.iter().all(|h| h.sha256.as_deref() == Some(pin.as_str())), "{out}");
        assert!(
            out.contains(&format!("{{\"type\": \"command\", \"command\": \"a\", \"sha256\": \"{pin}\"}}")),
            "{out}"
        );
        assert!(out.contains(&format!("\"command\":\"c\", \"sha256\": \"{pin}\"}}")), "{out}");
        assert!(out.contains(&format!("          \"sha256\": \"{pin}\"\n        }}")), "{out}");
        assert!(out.starts_with("{\n  \"z\": 1,") && out.ends_with("  \"a\": 2\n}\n"), "{out}");
        // Idempotent.
        let (again, n) = pin_text(&out, &pins).unwrap();
        assert_eq!((again, n), (out, 0));
    }
}
