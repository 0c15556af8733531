//! `--user` and `--group-add` resolved against the container's own `/etc/passwd` and
//! `/etc/group`, parsed as moby/sys `user.GetExecUser` and `GetAdditionalGroups` do. The files
//! are opened inside the rootfs through the safe-path primitive (a symlinked /etc/passwd cannot
//! point at the host's), and never through NSS.

use berth_sys::safe_path::Root;
use std::io::Read;
use std::path::Path;

/// The largest uid/gid Docker accepts.
const MAX_ID: i64 = i32::MAX as i64;
/// Bigger passwd/group files than this are not read (an image could ship a huge one).
const MAX_FILE: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("Unable to find group {0}: no matching entries in group file")]
    NoAdditionalGroup(String),
    #[error("uids and gids must be in range 0-{MAX_ID}")]
    Range,
    #[error("opening {0} in the container's root filesystem")]
    Open(String, #[source] berth_sys::safe_path::SafePathError),
    #[error("reading {0} in the container's root filesystem")]
    Read(String, #[source] std::io::Error),
}

impl UserError {
    /// Whether the client asked for something that does not exist (vs. an I/O failure).
    pub fn is_invalid(&self) -> bool {
        !matches!(self, UserError::Open(..) | UserError::Read(..))
    }
}

/// The process identity for the OCI spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// The primary gid first (CVE-2022-36109), then passwd memberships, then `--group-add`.
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: i64,
    gid: i64,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: i64,
    members: Vec<String>,
}

/// Go's `strconv.Atoi` for our purpose: an optional sign and digits.
fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    let field = |f: &[&str], i: usize| f.get(i).copied().unwrap_or("").to_string();
    lines(text)
        .map(|f| PasswdEntry {
            name: field(&f, 0),
            uid: atoi(&field(&f, 2)).unwrap_or(0),
            gid: atoi(&field(&f, 3)).unwrap_or(0),
            home: field(&f, 5),
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    lines(text)
        .map(|f| GroupEntry {
            name: f.first().copied().unwrap_or("").to_string(),
            gid: f.get(2).and_then(|g| atoi(g)).unwrap_or(0),
            members: f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

fn in_range(id: i64) -> Result<u32, UserError> {
    if (0..=MAX_ID).contains(&id) {
        Ok(id as u32)
    } else {
        Err(UserError::Range)
    }
}

/// Reads a file inside `rootfs`; `None` when it does not exist (moby treats a missing file as
/// "no entries" for names and lets numeric ids through).
fn read_in_root(rootfs: &Path, path: &str) -> Result<Option<String>, UserError> {
    let root = Root::open(rootfs).map_err(|e| UserError::Open(path.into(), e))?;
    let file = match root.open_file(Path::new(path)) {
        Ok(f) => f,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(UserError::Open(path.into(), e)),
    };
    let mut text = String::new();
    file.take(MAX_FILE)
        .read_to_string(&mut text)
        .map_err(|e| UserError::Read(path.into(), e))?;
    Ok(Some(text))
}

/// The text of a root filesystem's `/etc/passwd` and `/etc/group` (`None`: absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFiles {
    pub passwd: Option<String>,
    pub group: Option<String>,
}

impl UserFiles {
    /// Reads both files inside `rootfs`.
    pub fn read(rootfs: &Path) -> Result<UserFiles, UserError> {
        Ok(UserFiles {
            passwd: read_in_root(rootfs, "/etc/passwd")?,
            group: read_in_root(rootfs, "/etc/group")?,
        })
    }
}

/// Resolves `user_spec` (`user`, `uid`, `user:group`, `uid:gid`, ...) and `group_add` inside
/// the container's root filesystem.
pub fn resolve(
    rootfs: &Path,
    user_spec: &str,
    group_add: &[String],
) -> Result<ResolvedUser, UserError> {
    resolve_in(&UserFiles::read(rootfs)?, user_spec, group_add)
}

/// [`resolve`] against files read before.
pub fn resolve_in(
    files: &UserFiles,
    user_spec: &str,
    group_add: &[String],
) -> Result<ResolvedUser, UserError> {
    let passwd = files.passwd.as_deref().map(parse_passwd);
    let group = files.group.as_deref().map(parse_group);
    resolve_with(passwd.as_deref(), group.as_deref(), user_spec, group_add)
}

fn resolve_with(
    passwd: Option<&[PasswdEntry]>,
    group: Option<&[GroupEntry]>,
    user_spec: &str,
    group_add: &[String],
) -> Result<ResolvedUser, UserError> {
    let (user_arg, group_arg) = user_spec.split_once(':').unwrap_or((user_spec, ""));
    let (uid_num, gid_num) = (atoi(user_arg), atoi(group_arg));
    let mut out = ResolvedUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".into(),
    };
    // A numeric user is always a uid, even if a user is *named* that number (CVE-2016-3697).
    let matched = passwd
        .unwrap_or(&[])
        .iter()
        .find(|u| match (user_arg, uid_num) {
            ("", _) => u.uid == 0,
            (_, Some(n)) => u.uid == n,
            (name, None) => u.name == name,
        });
    let mut matched_name = None;
    if let Some(u) = matched {
        matched_name = Some(u.name.as_str());
        out.uid = in_range(u.uid)?;
        out.gid = in_range(u.gid)?;
        out.home = u.home.clone();
    } else if !user_arg.is_empty() {
        out.uid = in_range(uid_num.ok_or_else(|| UserError::NoUser(user_arg.into()))?)?;
    }
    let mut sgids = Vec::new();
    let groups = group.unwrap_or(&[]);
    if !group_arg.is_empty() {
        let found = groups.iter().find(|g| match gid_num {
            Some(n) => g.gid == n,
            None => g.name == group_arg,
        });
        out.gid = match found {
            Some(g) => in_range(g.gid)?,
            None => in_range(gid_num.ok_or_else(|| UserError::NoGroup(group_arg.into()))?)?,
        };
    } else if let Some(name) = matched_name {
        // Supplementary groups only in the implicit form ("user", not "user:group").
        for g in groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name))
        {
            sgids.push(in_range(g.gid)?);
        }
    }
    sgids.extend(additional_groups(groups, group_add)?);
    out.additional_gids.push(out.gid);
    for g in sgids {
        if !out.additional_gids.contains(&g) {
            out.additional_gids.push(g);
        }
    }
    Ok(out)
}

/// `--group-add` entries: group names or gids (a number with no group entry is taken as is).
fn additional_groups(groups: &[GroupEntry], wanted: &[String]) -> Result<Vec<u32>, UserError> {
    let mut out = Vec::new();
    for w in wanted {
        let found = groups
            .iter()
            .find(|g| g.name == *w || g.gid.to_string() == *w);
        let gid = match found {
            Some(g) => in_range(g.gid)?,
            None => in_range(atoi(w).ok_or_else(|| UserError::NoAdditionalGroup(w.clone()))?)?,
        };
        if !out.contains(&gid) {
            out.push(gid);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        # a comment\n\
        daemon:x:1:1::/usr/sbin:/bin/false\n\
        1000:x:4242:4242:numeric name:/home/n:/bin/sh\n\
        alice:x:1001:1002::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
        audio:x:29:alice\n\
        staff:x:50:alice,bob\n\
        alice:x:1002:\n";

    fn run(spec: &str, add: &[&str]) -> Result<ResolvedUser, UserError> {
        let p = parse_passwd(PASSWD);
        let g = parse_group(GROUP);
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve_with(Some(&p), Some(&g), spec, &add)
    }

    // moby/sys user TestGetExecUser cases.
    #[test]
    fn names_numbers_and_defaults() {
        let r = run("", &[]).unwrap();
        assert_eq!((r.uid, r.gid, r.additional_gids.clone()), (0, 0, vec![0]));
        assert_eq!(r.home, "/root");
        let a = run("alice", &[]).unwrap();
        assert_eq!((a.uid, a.gid), (1001, 1002));
        assert_eq!(
            a.additional_gids,
            vec![1002, 29, 50],
            "primary gid first, then memberships"
        );
        let explicit = run("alice:staff", &[]).unwrap();
        assert_eq!((explicit.gid, explicit.additional_gids), (50, vec![50]));
        let n = run("1000:1000", &[]).unwrap();
        assert_eq!((n.uid, n.gid), (1000, 1000));
        assert_eq!(run("1:0", &[]).unwrap().gid, 0);
    }

    // CVE-2016-3697: a user *named* "1000" does not shadow uid 1000.
    #[test]
    fn numeric_user_is_a_uid_even_if_a_name_matches() {
        let r = run("1000", &[]).unwrap();
        assert_eq!((r.uid, r.gid), (1000, 0));
        // `-u 1` takes uid 1's passwd entry (daemon, gid 1).
        let d = run("1", &[]).unwrap();
        assert_eq!((d.uid, d.gid), (1, 1));
    }

    #[test]
    fn unknown_users_and_groups_have_dockers_messages() {
        assert_eq!(
            run("nobody-here", &[]).unwrap_err().to_string(),
            "unable to find user nobody-here: no matching entries in passwd file"
        );
        assert_eq!(
            run("alice:nogroup", &[]).unwrap_err().to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        assert_eq!(
            run("0", &["nogroup"]).unwrap_err().to_string(),
            "Unable to find group nogroup: no matching entries in group file"
        );
        for bad in ["2147483648", "-1", "0:-1"] {
            assert_eq!(
                run(bad, &[]).unwrap_err().to_string(),
                "uids and gids must be in range 0-2147483647"
            );
        }
    }

    #[test]
    fn group_add_takes_names_and_numbers() {
        let r = run("1000:1000", &["audio", "44", "50", "audio"]).unwrap();
        assert_eq!(r.additional_gids, vec![1000, 29, 44, 50]);
    }

    #[test]
    fn without_passwd_only_numeric_ids_work() {
        let r = resolve_with(None, None, "123:456", &["7".into()]).unwrap();
        assert_eq!((r.uid, r.gid, r.additional_gids), (123, 456, vec![456, 7]));
        assert!(resolve_with(None, None, "bob", &[]).is_err());
    }

    #[test]
    fn files_are_read_inside_the_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["etc", "real"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        // An absolute symlink resolves inside the rootfs (the host has no /real/passwd).
        std::fs::write(dir.path().join("real/passwd"), PASSWD).unwrap();
        std::os::unix::fs::symlink("/real/passwd", dir.path().join("etc/passwd")).unwrap();
        std::fs::write(dir.path().join("etc/group"), GROUP).unwrap();
        let r = resolve(dir.path(), "alice", &["staff".to_string()]).unwrap();
        assert_eq!(r.additional_gids, vec![1002, 29, 50]);
        // `..` cannot climb out to the host's /etc/passwd (which has a daemon user): inside
        // the rootfs the link points at itself.
        std::fs::remove_file(dir.path().join("etc/passwd")).unwrap();
        let up = "../".repeat(20) + "etc/passwd";
        std::os::unix::fs::symlink(up, dir.path().join("etc/passwd")).unwrap();
        assert!(resolve(dir.path(), "daemon", &[]).is_err());
    }
}
