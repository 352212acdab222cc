//! What a killed capcache process leaves beside a store: temp files of a publish
//! (`.db.json.{pid}.*.tmp`) and scratch folders of a merge (`.capcache-merge.{pid}.*`). Each is
//! named after the process that made it; the next writer in the folder removes those whose
//! process is gone.

use std::path::Path;

/// Removes the entries of `dir` named `{prefix}{pid}.…{suffix}` whose process is gone (no
/// `/proc/{pid}`), or, where there is no `/proc` or no pid in the name, that are more than an
/// hour old. Folders are removed with what is in them; a symlink is removed, never followed.
pub fn sweep(dir: &Path, prefix: &str, suffix: &str) {
    let proc_fs = Path::new("/proc/self").exists();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)).filter(|n| n.ends_with(suffix)) else {
            continue;
        };
        let pid = rest.split('.').next().and_then(|p| p.parse::<u32>().ok());
        let stale = match pid {
            Some(pid) if proc_fs => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
            _ => entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600)),
        };
        if !stale {
            continue;
        }
        let _ = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(entry.path()),
            _ => std::fs::remove_file(entry.path()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_entries_of_dead_processes_with_the_prefix_go() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that no process has (beyond the kernel's pid_max); and one that is alive (ours is
        // excluded, so take our parent's).
        let parent = std::os::unix::process::parent_id();
        let dead = dir.path().join(".capcache-merge.4294967.abc");
        let alive = dir.path().join(format!(".capcache-merge.{parent}.def"));
        let unrelated = dir.path().join("capcache-merge.4294967.abc");
        for d in [&dead, &alive, &unrelated] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("input-0.sqlite"), "half a store").unwrap();
        }
        let outside = tempfile::tempdir().unwrap();
        let link = dir.path().join(".capcache-merge.4294967.link");
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        sweep(dir.path(), ".capcache-merge.", "");
        assert!(!dead.exists(), "a dead merge's scratch folder is swept");
        assert!(alive.exists() && unrelated.exists());
        assert!(!link.exists() && outside.path().join("keep").exists(), "a link is removed, not followed");
    }
}
