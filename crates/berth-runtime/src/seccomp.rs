//! Compiles the OCI `linux.seccomp` section with libseccomp (every listed architecture,
//! conditional arguments, errnoRet, defaultErrnoRet) into a [`Program`], and loads it.
//!
//! Compiling Docker's default profile costs milliseconds of CPU, so a program is compiled
//! once and reused: [`program`] keeps the programs of this process by the digest of their
//! profile (a shim compiles once for its container and every exec), and finds a program
//! compiled elsewhere in the bundle's `seccomp.bpf` ([`save_program`]; berthd writes it for
//! every container), which is used only when it names the very profile of the config.

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

const EPERM: i32 = 1;

/// Errors compiling or loading a seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("creating the filter")]
    Create(#[source] libseccomp::error::SeccompError),
    #[error("unsupported seccomp action {0}")]
    Action(String),
    #[error("adding architecture {0}")]
    Arch(String, #[source] libseccomp::error::SeccompError),
    #[error("adding the rule for {0}")]
    Rule(String, #[source] libseccomp::error::SeccompError),
    #[error("setting filter attributes")]
    Attr(#[source] libseccomp::error::SeccompError),
    #[error("loading the filter into the kernel")]
    Load(#[source] libseccomp::error::SeccompError),
    #[error("exporting the compiled filter")]
    Export(#[source] std::io::Error),
    #[error("loading the filter into the kernel")]
    LoadProgram(#[source] std::io::Error),
    #[error("writing {0}")]
    Save(std::path::PathBuf, #[source] std::io::Error),
}

fn enum_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn action(act: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, SeccompError> {
    Ok(match act {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            ScmpAction::Errno(errno.map(|e| e as i32).unwrap_or(EPERM))
        }
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(errno.map(|e| e as u16).unwrap_or(EPERM as u16))
        }
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        other => return Err(SeccompError::Action(enum_name(&other))),
    })
}

fn compare(arg: &oci_spec::runtime::LinuxSeccompArg) -> ScmpArgCompare {
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(arg.value()),
    };
    let datum = match arg.op() {
        LinuxSeccompOperator::ScmpCmpMaskedEq => arg.value_two().unwrap_or(0),
        _ => arg.value(),
    };
    ScmpArgCompare::new(arg.index() as u32, op, datum)
}

/// Builds (but does not load) the filter for `config`.
pub fn compile(config: &LinuxSeccomp) -> Result<ScmpFilterContext, SeccompError> {
    let default = action(config.default_action(), config.default_errno_ret())?;
    let mut filter = ScmpFilterContext::new(default).map_err(SeccompError::Create)?;
    // We decide about no_new_privs ourselves (process.noNewPrivileges), not libseccomp.
    filter.set_ctl_nnp(false).map_err(SeccompError::Attr)?;
    for arch in config.architectures().iter().flatten() {
        let name = enum_name(arch);
        let parsed: ScmpArch = name
            .parse()
            .map_err(|e| SeccompError::Arch(name.clone(), e))?;
        filter
            .add_arch(parsed)
            .map_err(|e| SeccompError::Arch(name.clone(), e))?;
    }
    for rule in config.syscalls().iter().flatten() {
        add_rule(&mut filter, rule, default)?;
    }
    Ok(filter)
}

fn add_rule(
    filter: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    default: ScmpAction,
) -> Result<(), SeccompError> {
    let act = action(rule.action(), rule.errno_ret())?;
    if act == default {
        return Ok(());
    }
    let args = rule.args().clone().unwrap_or_default();
    // Conditions on the same argument index are alternatives (runc's rule): one rule each;
    // conditions on distinct indexes are all required: one rule with all of them.
    let same_index = args.len() > 1 && args.iter().all(|a| a.index() == args[0].index());
    for name in rule.names() {
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            tracing::debug!(syscall = %name, "syscall unknown to libseccomp, skipped");
            continue;
        };
        let result = if args.is_empty() {
            filter.add_rule(act, syscall).map(|_| ())
        } else if same_index {
            args.iter().try_for_each(|a| {
                filter
                    .add_rule_conditional(act, syscall, &[compare(a)])
                    .map(|_| ())
            })
        } else {
            let cmps: Vec<_> = args.iter().map(compare).collect();
            filter.add_rule_conditional(act, syscall, &cmps).map(|_| ())
        };
        result.map_err(|e| SeccompError::Rule(name.clone(), e))?;
    }
    Ok(())
}

/// Compiles and loads the filter into the calling process.
pub fn install(config: &LinuxSeccomp) -> Result<(), SeccompError> {
    compile(config)?.load().map_err(SeccompError::Load)
}

/// A compiled filter: classic BPF instructions (`struct sock_filter`, 8 bytes each), exactly
/// what libseccomp's `seccomp_load` would hand the kernel for the same profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    insns: Vec<u8>,
}

impl Program {
    /// Compiles `config` with libseccomp and exports the result.
    pub fn compile(config: &LinuxSeccomp) -> Result<Program, SeccompError> {
        let filter = compile(config)?;
        let fd = rustix::fs::memfd_create("berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| SeccompError::Export(e.into()))?;
        filter
            .export_bpf(&fd)
            .map_err(|e| SeccompError::Export(std::io::Error::other(e.to_string())))?;
        let mut file = std::fs::File::from(fd);
        let mut insns = Vec::new();
        file.rewind()
            .and_then(|()| file.read_to_end(&mut insns))
            .map_err(SeccompError::Export)?;
        Program::from_insns(insns)
            .ok_or_else(|| SeccompError::Export(std::io::Error::other("malformed program")))
    }

    fn from_insns(insns: Vec<u8>) -> Option<Program> {
        use berth_sys::seccomp::{INSN_SIZE, MAX_INSNS};
        let ok = !insns.is_empty()
            && insns.len().is_multiple_of(INSN_SIZE)
            && insns.len() / INSN_SIZE <= MAX_INSNS;
        ok.then_some(Program { insns })
    }

    /// The raw instructions.
    pub fn as_bytes(&self) -> &[u8] {
        &self.insns
    }

    /// Installs the filter in the calling thread (as `seccomp_load` does: no filter flags;
    /// needs no_new_privs or CAP_SYS_ADMIN).
    pub fn load(&self) -> Result<(), SeccompError> {
        berth_sys::seccomp::set_mode_filter(&self.insns).map_err(SeccompError::LoadProgram)
    }
}

/// Names a profile: SHA-256 of its JSON as this crate serialises it.
pub type ProfileDigest = [u8; 32];

/// The digest of `config`.
pub fn digest(config: &LinuxSeccomp) -> ProfileDigest {
    // Plain data always serialises; were it ever to fail, the Debug form still tells
    // profiles apart (never one shared key for several).
    let json = serde_json::to_vec(config).unwrap_or_else(|_| format!("{config:?}").into_bytes());
    Sha256::digest(&json).into()
}

/// The file in a bundle that may hold the compiled program of its config's profile.
pub const BUNDLE_FILE: &str = "seccomp.bpf";
const MAGIC: &[u8; 8] = b"BSCMPBF1";
/// Programs kept per process; a daemon sees few distinct profiles, but user profiles are
/// unbounded, so the cache starts over when full.
const CACHE_LIMIT: usize = 32;

fn cache() -> &'static Mutex<HashMap<ProfileDigest, Arc<Program>>> {
    static CACHE: OnceLock<Mutex<HashMap<ProfileDigest, Arc<Program>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn remember(key: ProfileDigest, program: Program) -> Arc<Program> {
    let program = Arc::new(program);
    let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(key, program.clone());
    program
}

/// The program for `config`: from this process's cache, else from `bundle`'s
/// [`BUNDLE_FILE`] when that was compiled from the same profile (and is intact), else
/// compiled now. Cached for the next call either way.
pub fn program(config: &LinuxSeccomp, bundle: Option<&Path>) -> Result<Arc<Program>, SeccompError> {
    let key = digest(config);
    if let Some(found) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(found.clone());
    }
    let from_file = bundle.and_then(|b| read_program_file(&b.join(BUNDLE_FILE), &key));
    let program = match from_file {
        Some(p) => p,
        None => Program::compile(config)?,
    };
    Ok(remember(key, program))
}

/// Writes the program of `config` (compiled, or from this process's cache) to `bundle`'s
/// [`BUNDLE_FILE`], so the runtime that creates the container need not compile it. Not
/// synced: a file cut short by a crash fails its checksum and is compiled again. The file is
/// trusted as config.json is (whoever can write one can write the other); the digests only
/// tie it to the profile and catch damage.
pub fn save_program(bundle: &Path, config: &LinuxSeccomp) -> Result<(), SeccompError> {
    let key = digest(config);
    let program = program(config, None)?;
    let mut bytes = Vec::with_capacity(MAGIC.len() + 64 + program.insns.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&key);
    bytes.extend_from_slice(&Sha256::digest(&program.insns));
    bytes.extend_from_slice(&program.insns);
    let path = bundle.join(BUNDLE_FILE);
    std::fs::write(&path, bytes).map_err(|e| SeccompError::Save(path, e))
}

/// The program in `path` if it is intact and was compiled from the profile `key` names.
fn read_program_file(path: &Path, key: &ProfileDigest) -> Option<Program> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    if rest.len() < 64 || &rest[..32] != key.as_slice() {
        return None;
    }
    let insns = &rest[64..];
    if Sha256::digest(insns).as_slice() != &rest[32..64] {
        tracing::debug!(path = %path.display(), "seccomp program file is damaged, compiling");
        return None;
    }
    Program::from_insns(insns.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_profile_with_arches_args_and_unknown_names_compiles() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[
                  {"names":["read","write","no_such_syscall_xyz"],"action":"SCMP_ACT_ALLOW"},
                  {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
                  {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":38,"op":"SCMP_CMP_LT"},{"index":0,"value":39,"op":"SCMP_CMP_EQ"}]},
                  {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}
                ]}"#,
        );
        compile(&p).unwrap();
    }

    fn default_profile() -> LinuxSeccomp {
        let caps: Vec<String> = crate::profile::DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect();
        crate::profile::default_seccomp(&caps, "amd64", (6, 1)).unwrap()
    }

    #[test]
    fn a_saved_program_is_used_only_for_its_own_profile_and_only_intact() {
        let dir = tempfile::tempdir().unwrap();
        let docker = default_profile();
        save_program(dir.path(), &docker).unwrap();
        let file = dir.path().join(BUNDLE_FILE);
        let compiled = Program::compile(&docker).unwrap();
        assert_eq!(
            read_program_file(&file, &digest(&docker)).as_ref(),
            Some(&compiled),
            "the file holds what libseccomp compiles"
        );
        let other = profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
        assert_eq!(read_program_file(&file, &digest(&other)), None);
        // Damaged: one instruction byte flipped, or cut short.
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        assert_eq!(read_program_file(&file, &digest(&docker)), None);
        bytes[last] ^= 1;
        std::fs::write(&file, &bytes[..bytes.len() - 8]).unwrap();
        assert_eq!(read_program_file(&file, &digest(&docker)), None);
    }

    #[test]
    fn program_takes_the_bundle_file_that_names_its_profile() {
        // Profiles of this test only: the process-wide cache must not know them yet.
        let wanted = profile(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":77}"#);
        let other = profile(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":78}"#);
        let dir = tempfile::tempdir().unwrap();
        save_program(dir.path(), &other).unwrap();
        // Relabel the file as the program of `wanted`: only the header says which it is.
        let file = dir.path().join(BUNDLE_FILE);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[MAGIC.len()..MAGIC.len() + 32].copy_from_slice(&digest(&wanted));
        std::fs::write(&file, &bytes).unwrap();
        let taken = program(&wanted, Some(dir.path())).unwrap();
        assert_eq!(
            *taken,
            Program::compile(&other).unwrap(),
            "the file was not used"
        );
        // Cached from now on, file or not.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(program(&wanted, Some(dir.path())).unwrap(), taken);
    }

    #[test]
    fn the_digest_survives_a_round_trip_through_config_json() {
        let docker = default_profile();
        let json = serde_json::to_string_pretty(&docker).unwrap();
        let back: LinuxSeccomp = serde_json::from_str(&json).unwrap();
        assert_eq!(digest(&back), digest(&docker));
        assert_ne!(
            digest(&back),
            digest(&profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#))
        );
    }

    #[test]
    fn an_unknown_action_is_refused() {
        let p = profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#);
        assert!(matches!(compile(&p), Err(SeccompError::Action(_))));
    }
}
