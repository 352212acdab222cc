//! What a killed capcache process leaves behind: temp files of a publish
//! (`.db.json.{host}.{pid}.*.tmp`), scratch folders of a merge (`.capcache-merge.{host}.{pid}.*`) and
//! unfinished downloads among a model's HF-cache blobs (`.capcache-{host}.{pid}.*.incomplete`).
//! Each is named after the host and the process that made it ([`owner_prefix`]); the next writer in
//! the folder removes its own host's whose process is gone, and, as a folder may be shared between
//! hosts (shard pods publishing into one volume) whose pids it cannot see, another host's only when
//! they are older than [`FOREIGN_AGE`].

use std::path::Path;
use std::time::Duration;

/// How old another host's temp file must be before it is taken for a killed writer's.
pub const FOREIGN_AGE: Duration = Duration::from_secs(24 * 3600);

/// How old a temp file of this host must be to go when there is no `/proc` to ask about its pid.
const NO_PROC_AGE: Duration = Duration::from_secs(3600);

/// This host's name as temp file names carry it: letters, digits and `-` only (a `.` would end
/// it), at most 64 of them; `unknown-host` when the kernel does not say.
pub fn host() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String =
        raw.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).take(64).collect();
    if name.is_empty() { "unknown-host".to_owned() } else { name }
}

/// The start of the name of a temp entry this process makes: `{prefix}{host}.{pid}.`.
pub fn owner_prefix(prefix: &str) -> String {
    format!("{prefix}{}.{}.", host(), std::process::id())
}

/// Removes the entries of `dir` named `{prefix}{host}.{pid}.…{suffix}` that a killed process
/// left: this host's whose process is gone (no `/proc/{pid}`; without `/proc`, older than an
/// hour), and every other name (another host's, or one without a host) older than
/// [`FOREIGN_AGE`]. Folders are removed with what is in them; a symlink is removed, never followed.
pub fn sweep(dir: &Path, prefix: &str, suffix: &str) {
    let proc_fs = Path::new("/proc/self").exists();
    let me = host();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)).filter(|n| n.ends_with(suffix)) else {
            continue;
        };
        let mut parts = rest.split('.');
        let (host, pid) = (parts.next(), parts.next().and_then(|p| p.parse::<u32>().ok()));
        let older_than = |age: Duration| {
            entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|e| e > age))
        };
        let stale = match (host, pid) {
            (Some(h), Some(pid)) if h == me && proc_fs => {
                pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
            }
            (Some(h), Some(_)) if h == me => older_than(NO_PROC_AGE),
            _ => older_than(FOREIGN_AGE),
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

    /// Sets an entry's modification time `age` ago.
    fn age(path: &Path, age: Duration) {
        let t = std::time::SystemTime::now() - age;
        std::fs::File::open(path).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn only_this_hosts_dead_processes_entries_and_other_hosts_old_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let me = host();
        // A pid that no process has (beyond the kernel's pid_max); and one that is alive (ours is
        // excluded, so take our parent's).
        let parent = std::os::unix::process::parent_id();
        let dead = dir.path().join(format!(".capcache-merge.{me}.4294967.abc"));
        let alive = dir.path().join(format!(".capcache-merge.{me}.{parent}.def"));
        let unrelated = dir.path().join(format!("capcache-merge.{me}.4294967.abc"));
        // Another host's: its pid means nothing here. Fresh, it stays; a day old, it goes.
        let other_fresh = dir.path().join(".capcache-merge.pod-b.4294967.ghi");
        let other_old = dir.path().join(".capcache-merge.pod-c.4294967.jkl");
        for d in [&dead, &alive, &unrelated, &other_fresh, &other_old] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("input-0.sqlite"), "half a store").unwrap();
        }
        age(&other_fresh, FOREIGN_AGE - Duration::from_secs(600));
        age(&other_old, FOREIGN_AGE + Duration::from_secs(600));
        let outside = tempfile::tempdir().unwrap();
        let link = dir.path().join(format!(".capcache-merge.{me}.4294967.link"));
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        sweep(dir.path(), ".capcache-merge.", "");
        assert!(!dead.exists(), "a dead merge's scratch folder is swept");
        assert!(alive.exists() && unrelated.exists());
        assert!(other_fresh.exists(), "another host's live-looking folder stays");
        assert!(!other_old.exists(), "another host's day-old folder goes");
        assert!(!link.exists() && outside.path().join("keep").exists(), "a link is removed, not followed");
        assert!(owner_prefix(".x.").starts_with(&format!(".x.{me}.{}.", std::process::id())));
        assert!(!me.contains('.') && !me.is_empty());
    }
}
