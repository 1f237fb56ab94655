//! The state directory's checks before the privilege drop.
//!
//! The directory belongs to the daemon's user (the package or unit creates it so), so anything
//! inside it may have been put there by that user: the daemon never changes ownership of what
//! it finds there, and opens its files only after the drop (the journal with `O_NOFOLLOW`, the
//! evidence ring with `O_EXCL`). What root does here is limited to the directory itself:
//! create it when missing (that one directory, never its parents, owned by the user) and
//! refuse one that other users could plant files in.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::unistd::{Gid, Uid};

/// Who will own and write the directory: the account the daemon drops to, or `None` when it
/// keeps running as it was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: Uid,
    pub gid: Gid,
}

/// Creates `dir` when missing, then refuses it when others could write into it. Errors name
/// the path and say what to do.
pub fn prepare(dir: &Path, owner: Option<Owner>) -> Result<(), String> {
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create(dir, owner)?;
            return Ok(());
        }
        Err(e) => return Err(format!("state directory {}: {e}", dir.display())),
    };
    check(dir, &meta, owner)
}

/// The checks on an existing directory (separate so they can be tested without root).
fn check(dir: &Path, meta: &fs::Metadata, owner: Option<Owner>) -> Result<(), String> {
    let path = dir.display();
    if !meta.is_dir() {
        return Err(format!("state directory {path} is not a directory"));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(format!(
            "state directory {path} is writable by every user (mode {mode:04o}): anyone could \
             plant files there; make it owned by the daemon's user, mode 0750 (chmod o-w {path})"
        ));
    }
    let uid = Uid::from_raw(meta.uid());
    let gid = Gid::from_raw(meta.gid());
    let owner_uid = owner.map_or(nix::unistd::geteuid(), |o| o.uid);
    if !uid.is_root() && uid != owner_uid {
        return Err(format!(
            "state directory {path} belongs to uid {uid}, neither root nor the daemon's user: \
             that account could plant files there; chown it to the daemon's user"
        ));
    }
    let group_ok = gid.as_raw() == 0 || owner.is_none_or(|o| o.gid == gid);
    if mode & 0o020 != 0 && !group_ok {
        return Err(format!(
            "state directory {path} is writable by group {gid}, which the daemon's user is not \
             in: its members could plant files there (chmod g-w {path})"
        ));
    }
    Ok(())
}

/// Creates the one missing directory (mode 0750) and hands it to `owner` through a descriptor
/// opened without following links, so nothing but the directory just made changes owner.
fn create(dir: &Path, owner: Option<Owner>) -> Result<(), String> {
    let path = dir.display();
    fs::DirBuilder::new()
        .mode(0o750)
        .create(dir)
        .map_err(|e| format!("cannot create the state directory {path}: {e}"))?;
    let Some(owner) = owner else { return Ok(()) };
    let handle = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .map_err(|e| format!("cannot open the new state directory {path}: {e}"))?;
    nix::unistd::fchown(
        std::os::fd::AsRawFd::as_raw_fd(&handle),
        Some(owner.uid),
        Some(owner.gid),
    )
    .map_err(|e| format!("cannot hand the new state directory {path} to its user: {e}"))
}

/// True when the daemon running as `owner` can create files in `dir` (for a plain warning:
/// a directory root owns is not handed over at run time).
pub fn writable_by(dir: &Path, owner: Owner) -> bool {
    let Ok(meta) = fs::metadata(dir) else {
        return false;
    };
    let mode = meta.mode();
    (meta.uid() == owner.uid.as_raw() && mode & 0o200 != 0)
        || (meta.gid() == owner.gid.as_raw() && mode & 0o020 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn me() -> Option<Owner> {
        Some(Owner {
            uid: nix::unistd::geteuid(),
            gid: nix::unistd::getegid(),
        })
    }

    #[test]
    fn a_directory_writable_by_everyone_is_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare(&dir, me()).unwrap_err();
        assert!(err.contains(&dir.display().to_string()), "{err}");
        assert!(err.contains("writable by every user"), "{err}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(prepare(&dir, me()), Ok(()));
    }

    #[test]
    fn a_missing_directory_is_created_but_not_its_parents() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        assert_eq!(prepare(&dir, me()), Ok(()));
        let meta = fs::metadata(&dir).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o777, 0o750);
        let deep = tmp.path().join("a/b/state");
        assert!(prepare(&deep, me()).is_err());
        assert!(!tmp.path().join("a").exists());
    }

    #[test]
    fn a_file_is_not_a_state_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("state");
        fs::write(&file, "x").unwrap();
        assert!(prepare(&file, me())
            .unwrap_err()
            .contains("not a directory"));
    }
}
