//! Rollback never writes through a swapped path (issues 17.10 and 19.9), through the real
//! binary: between PreToolUse (snapshot) and PostToolUse (a secret scanner rejects the edit,
//! the restore runs) the agent replaces the file with a symbolic link to a victim outside the
//! project, replaces a parent directory with a link (or with another directory), or keeps
//! swapping in a loop while the restore runs. The victim stays byte-identical (content, mode,
//! owner) and every refusal is in the audit log.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::rollback::{KEY, audit, edit_input, post, pre};
use crate::support::Env;

/// The scanner example, plus a PostToolUse hook that rejects every edit (with `rollback: true`):
/// the scanner reads the file from disk, which the swaps below make unreadable at times.
fn scanner_env(extra: Value) -> Env {
    let env = crate::rollback::scanner_env(extra);
    env.write(
        "managed.d/30-reject-all.json",
        &crate::support::hook_settings(
            "PostToolUse",
            "Edit|Write",
            json!([{"type": "command", "rollback": true,
                "command": "cat >/dev/null; echo '{\"decision\":\"block\",\"reason\":\"rejected by policy\"}'"}]),
        ),
    );
    env
}

/// A file outside the project the agent would like hookhost to overwrite (owned by another
/// user, so a `chown` through the link would show too).
fn victim(env: &Env, name: &str, content: &[u8]) -> PathBuf {
    let dir = env.path().join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    let v = dir.join(name);
    std::fs::write(&v, content).unwrap();
    std::fs::set_permissions(&v, std::fs::Permissions::from_mode(0o604)).unwrap();
    std::os::unix::fs::chown(&v, Some(65534), Some(65534)).unwrap();
    v
}

/// Content, mode and owner of a file (never following a link).
fn state(p: &Path) -> (Vec<u8>, u32, u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap();
    (std::fs::read(p).unwrap(), m.mode() & 0o7777, m.uid(), m.gid())
}

fn write_input(path: &Path) -> Value {
    json!({"file_path": path, "content": format!("KEY={KEY}\n")})
}

/// Replaces `path` with a symbolic link to `to`, atomically (a link made beside it, renamed
/// over it).
fn swap_in_link(path: &Path, to: &Path) {
    let tmp = path.with_extension("swaplink");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(to, &tmp).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn last_rollback(env: &Env) -> Value {
    audit(env, "rollback").pop().expect("a rollback record")
}

#[test]
fn rollback_swap_file_replaced_by_a_link_to_an_outside_victim_is_refused() {
    for tool in ["Write", "Edit"] {
        let env = scanner_env(json!({"hookhost": {"rollbackRejectedEdits": true}}));
        let f = env.project().join("notes.txt");
        std::fs::write(&f, "before\n").unwrap();
        let (input, after) = if tool == "Write" {
            (write_input(&f), format!("KEY={KEY}\n"))
        } else {
            (edit_input(&f, "before", &format!("KEY={KEY}")), format!("KEY={KEY}\n"))
        };
        pre(&env, tool, &input, "toolu_swap1");
        std::fs::write(&f, &after).unwrap();
        // The worst case: the victim holds exactly what the tool wrote, so a content check
        // alone would pass.
        let v = victim(&env, "victim.txt", after.as_bytes());
        let before = state(&v);
        swap_in_link(&f, &v);
        let out = post(&env, tool, &input, "toolu_swap1");
        assert_eq!(out.code, 2, "{out:?}");
        assert_eq!(state(&v), before, "{tool}: the victim is untouched");
        assert!(std::fs::symlink_metadata(&f).unwrap().file_type().is_symlink(), "the link is left as it is");
        let rec = last_rollback(&env);
        assert_eq!(rec["action"], "refused", "{tool}: {rec}");
        assert!(rec["detail"].as_str().unwrap().contains("symbolic link"), "{rec}");
        assert!(out.stderr.contains("did NOT revert"), "{}", out.stderr);
    }
}

#[test]
fn rollback_swap_parent_directory_replaced_by_a_link_or_another_directory_is_refused() {
    for how in ["link", "other directory", "link to a copy"] {
        let env = scanner_env(json!({"hookhost": {"rollbackRejectedEdits": true}}));
        let sub = env.project().join("src");
        std::fs::create_dir_all(&sub).unwrap();
        let f = sub.join("config.py");
        std::fs::write(&f, "x = 1\n").unwrap();
        let input = write_input(&f);
        pre(&env, "Write", &input, "toolu_dir");
        let after = format!("KEY={KEY}\n");
        std::fs::write(&f, &after).unwrap();
        let outside = env.path().join("outside-dir");
        std::fs::create_dir_all(&outside).unwrap();
        let v = outside.join("config.py");
        std::fs::write(&v, &after).unwrap();
        let before = state(&v);
        std::fs::rename(&sub, env.project().join("src.moved")).unwrap();
        match how {
            "link" => std::os::unix::fs::symlink(&outside, &sub).unwrap(),
            "other directory" => {
                std::fs::create_dir(&sub).unwrap();
                std::fs::write(sub.join("config.py"), &after).unwrap();
            }
            _ => {
                let copy = env.path().join("copy");
                std::fs::create_dir_all(&copy).unwrap();
                std::fs::write(copy.join("config.py"), &after).unwrap();
                std::os::unix::fs::symlink(&copy, &sub).unwrap();
            }
        }
        let out = post(&env, "Write", &input, "toolu_dir");
        assert_eq!(out.code, 2, "{out:?}");
        assert_eq!(state(&v), before, "{how}: the outside file is untouched");
        if how == "other directory" {
            assert_eq!(std::fs::read_to_string(sub.join("config.py")).unwrap(), after, "not written either");
        }
        let rec = last_rollback(&env);
        assert_eq!(rec["action"], "refused", "{how}: {rec}");
    }
}

/// Swaps for a restore in a loop: the file flips between the real file and a link to the
/// victim (or its directory between the real one and a link) while PostToolUse restores.
#[test]
fn rollback_swap_race_in_a_loop_never_writes_the_victim() {
    let env = scanner_env(json!({"hookhost": {"rollbackRejectedEdits": true}}));
    let sub = env.project().join("pkg");
    std::fs::create_dir_all(&sub).unwrap();
    let after = format!("KEY={KEY}\n");
    let outside = env.path().join("outside-race");
    std::fs::create_dir_all(&outside).unwrap();
    let mut actions = std::collections::BTreeMap::<String, usize>::new();
    let variants = 24;
    for i in 0..variants {
        let swap_dir = i % 2 == 1;
        // How long each state is held: from flat out to a few milliseconds, so that restores
        // meet every phase of a swap (before the check, between the check and the exchange, …).
        let hold = std::time::Duration::from_micros([0, 100, 500, 2000][(i / 2) % 4]);
        let name = format!("f{i}.txt");
        let f = sub.join(&name);
        let original = format!("original {i}\n").repeat(1 + i % 5);
        std::fs::write(&f, &original).unwrap();
        let tool = if i % 3 == 0 { "Edit" } else { "Write" };
        let input = if tool == "Edit" {
            edit_input(&f, &format!("original {i}"), &format!("KEY={KEY}"))
        } else {
            json!({"file_path": f, "content": after})
        };
        let id = format!("toolu_race{i}");
        pre(&env, tool, &input, &id);
        let written = if tool == "Edit" {
            original.replacen(&format!("original {i}"), &format!("KEY={KEY}"), 1)
        } else {
            after.clone()
        };
        std::fs::write(&f, &written).unwrap();
        let v = victim(&env, &name, written.as_bytes());
        std::fs::write(outside.join(&name), &written).unwrap();
        let outside_before = state(&outside.join(&name));
        let before = state(&v);
        // The racer: flip the entry (or the directory) as fast as it can.
        let stop = Arc::new(AtomicBool::new(false));
        let racer = {
            let (stop, f, v, sub, outside) = (stop.clone(), f.clone(), v.clone(), sub.clone(), outside.clone());
            std::thread::spawn(move || {
                let saved = f.with_extension("saved");
                let moved = sub.with_extension("moved");
                let mut flips = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if swap_dir {
                        if std::fs::rename(&sub, &moved).is_ok() {
                            let _ = std::os::unix::fs::symlink(&outside, &sub);
                            std::thread::sleep(hold);
                            let _ = std::fs::remove_file(&sub);
                            let _ = std::fs::rename(&moved, &sub);
                        }
                    } else if std::fs::rename(&f, &saved).is_ok() {
                        let _ = std::os::unix::fs::symlink(&v, &f);
                        std::thread::sleep(hold);
                        let _ = std::fs::rename(&saved, &f);
                    }
                    std::thread::sleep(hold);
                    flips += 1;
                }
                flips
            })
        };
        let out = post(&env, tool, &input, &id);
        stop.store(true, Ordering::Relaxed);
        let flips = racer.join().unwrap();
        assert!(flips > 0);
        assert_eq!(out.code, 2, "{out:?}");
        assert_eq!(state(&v), before, "variant {i}: the victim changed");
        assert_eq!(state(&outside.join(&name)), outside_before, "variant {i}: the outside directory was written");
        let rec = last_rollback(&env);
        *actions.entry(rec["action"].as_str().unwrap_or("?").to_string()).or_default() += 1;
        // Whatever happened, a restore that went through left the original in the project.
        if rec["action"] == "restored" {
            let now = std::fs::read_to_string(&f).or_else(|_| std::fs::read_to_string(f.with_extension("saved")));
            assert_eq!(now.unwrap(), original, "variant {i}");
        }
    }
    eprintln!("rollback race: {variants} variants, outcomes {actions:?}");
    assert_eq!(actions.values().sum::<usize>(), variants);
}

#[test]
fn rollback_swap_settings_revert_never_writes_through_a_swapped_directory() {
    use crate::rollback::{BAD, GOOD, config_change, guard_env, local_settings, session_start};
    for how in ["link", "other directory"] {
        let env = guard_env(true);
        let f = local_settings(&env);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, GOOD).unwrap();
        session_start(&env);
        // The blocked change, then the agent swaps `.claude` for a link to (or a copy in)
        // another directory holding the same blocked content.
        std::fs::write(&f, BAD).unwrap();
        let dot = f.parent().unwrap().to_path_buf();
        std::fs::rename(&dot, dot.with_extension("moved")).unwrap();
        let outside = env.path().join("outside-claude");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("settings.local.json"), BAD).unwrap();
        let before = state(&outside.join("settings.local.json"));
        if how == "link" {
            std::os::unix::fs::symlink(&outside, &dot).unwrap();
        } else {
            std::fs::create_dir(&dot).unwrap();
            std::fs::write(&f, BAD).unwrap();
        }
        let out = env.dispatch(&config_change(&env, "local_settings"));
        assert_eq!(out.code, 2, "{how}: {out:?}");
        assert_eq!(state(&outside.join("settings.local.json")), before, "{how}: written through the swap");
        if how == "other directory" {
            assert_eq!(std::fs::read_to_string(&f).unwrap(), BAD, "not the directory it was accepted in");
        }
        let recs = audit(&env, "settings_revert");
        assert_eq!(recs.last().unwrap()["action"], "refused", "{how}: {recs:?}");
        assert!(out.stderr.contains("refused"), "{}", out.stderr);
    }
}
