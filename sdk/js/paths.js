// Paths against gitignore-style rules, relative to the project (the same as the Rust and Python
// SDKs, one test corpus: sdk/testdata/paths.json).
//
// As in .gitignore: the last matching rule wins and !rule re-allows; a rule without / matches a
// name at any depth, a rule with / the path from the project root; ** matches any number of
// directories, * and ? stay within one name; a protected directory protects everything under
// it. relative() resolves . and .. as text (a hook cannot see the file system).

function normalize(path) {
  const out = [];
  for (const c of path.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!path.startsWith("/")) out.push("..");
    } else out.push(c);
  }
  return out;
}

/**
 * `path` (absolute, or relative to `cwd`) relative to `cwd` when inside it, else the absolute
 * path without its leading /; ., .. and empty components resolved.
 * @param {string} path
 * @param {string} cwd
 * @returns {string}
 */
export function relative(path, cwd) {
  if (!path.startsWith("/") && cwd.startsWith("/")) path = `${cwd}/${path}`;
  const parts = normalize(path);
  if (cwd.startsWith("/")) {
    const base = normalize(cwd);
    if (parts.length > base.length && base.every((b, i) => parts[i] === b)) return parts.slice(base.length).join("/");
  }
  return parts.join("/");
}

/** One name against a pattern with * and ? (? is one character). */
export function glob(pattern, name) {
  const p = Array.from(pattern);
  const s = Array.from(name);
  let pi = 0;
  let si = 0;
  let star = null;
  while (si < s.length) {
    if (pi < p.length && p[pi] !== "*" && (p[pi] === "?" || p[pi] === s[si])) {
      pi++;
      si++;
    } else if (pi < p.length && p[pi] === "*") {
      star = [pi, si];
      pi++;
    } else if (star !== null) {
      pi = star[0] + 1;
      si = star[1] + 1;
      star = [star[0], star[1] + 1];
    } else return false;
  }
  return p.slice(pi).every((c) => c === "*");
}

function matchParts(pat, parts) {
  if (pat.length === 0) return parts.length === 0;
  if (pat[0] === "**") {
    for (let i = 0; i <= parts.length; i++) if (matchParts(pat.slice(1), parts.slice(i))) return true;
    return false;
  }
  return parts.length > 0 && glob(pat[0], parts[0]) && matchParts(pat.slice(1), parts.slice(1));
}

/** An ordered list of gitignore-style rules. */
export class Rules {
  /** @param {string[]} rules */
  constructor(rules) {
    this.rules = [...rules];
  }

  last(parts) {
    let hit = null;
    for (const rule of this.rules) {
      const negated = rule.startsWith("!");
      const pattern = negated ? rule.slice(1) : rule;
      const matched = pattern.includes("/")
        ? matchParts(pattern.split("/").filter((p) => p !== ""), parts)
        : glob(pattern, parts[parts.length - 1]);
      if (matched) hit = negated ? null : rule;
    }
    return hit;
  }

  /**
   * The rule that protects `rel` (a relative path) or a directory above it, or null.
   * @param {string} rel
   * @returns {string | null}
   */
  matching(rel) {
    const parts = rel.split("/").filter((p) => p !== "");
    for (let k = 1; k <= parts.length; k++) {
      const hit = this.last(parts.slice(0, k));
      if (hit !== null) return hit;
    }
    return null;
  }
}
