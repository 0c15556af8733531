//! Compiles the OCI `linux.seccomp` section with libseccomp (every listed architecture,
//! conditional arguments, errnoRet, defaultErrnoRet) into a [`Program`], and loads it.
//!
//! Syscalls newer than the profile return ENOSYS, not the default errno, as with runc
//! (`libcontainer/seccomp/patchbpf`): a program that tries a syscall the profile has never
//! heard of (say a new clone variant) then falls back to an older one, as it would on an
//! older kernel, instead of failing with EPERM. A stub in front of libseccomp's program
//! compares the syscall number, per architecture, with the highest number the profile
//! names for that architecture; x32 calls (x86_64 with bit 30) have their own bound.
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
const ENOSYS: i32 = 38;

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

// Classic BPF, as seccomp runs it on `struct seccomp_data` (nr at 0, arch at 4).
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JSET_K: u16 = 0x45;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    /// The kernel's 8-byte layout, in native byte order.
    fn to_bytes(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..2].copy_from_slice(&self.code.to_ne_bytes());
        out[2] = self.jt;
        out[3] = self.jf;
        out[4..].copy_from_slice(&self.k.to_ne_bytes());
        out
    }
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// The highest syscall number the profile names for `arch` (libseccomp's table), if any.
fn highest_named(config: &LinuxSeccomp, arch: ScmpArch) -> Option<u32> {
    config
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|rule| rule.names().iter())
        .filter_map(|name| ScmpSyscall::from_name_by_arch(name, arch).ok())
        .filter_map(|nr| u32::try_from(nr.as_raw_syscall()).ok())
        .max()
}

/// The ENOSYS stub for `config`, empty when none is needed (an allowing default action
/// already lets unknown syscalls reach the kernel, which answers ENOSYS itself).
///
/// Shape, per architecture the kernel can run here (x86_64, i386, aarch64, arm):
/// `if arch == A { if nr > max(A) return ENOSYS; goto filter }`; on x86_64, a call with the
/// x32 bit is bounded by the x32 maximum when the profile lists x32, and otherwise left to
/// the filter (which refuses an unlisted ABI).
pub fn enosys_stub(config: &LinuxSeccomp) -> Result<Vec<Insn>, SeccompError> {
    let default = action(config.default_action(), config.default_errno_ret())?;
    if matches!(default, ScmpAction::Allow | ScmpAction::Log)
        || default == ScmpAction::Errno(ENOSYS)
    {
        return Ok(Vec::new());
    }
    let mut arches: Vec<ScmpArch> = Vec::new();
    for arch in config.architectures().iter().flatten() {
        let name = enum_name(arch);
        arches.push(name.parse().map_err(|e| SeccompError::Arch(name, e))?);
    }
    if arches.is_empty() {
        arches.push(ScmpArch::native());
    }
    let x32_max = arches
        .contains(&ScmpArch::X32)
        .then(|| highest_named(config, ScmpArch::X32))
        .flatten()
        .map(|nr| nr | X32_SYSCALL_BIT);
    // (audit arch, highest number, x32 bound for x86_64)
    let mut checks: Vec<(u32, u32, Option<u32>)> = Vec::new();
    for arch in &arches {
        let audit = match arch {
            ScmpArch::X8664 => AUDIT_ARCH_X86_64,
            ScmpArch::X86 => AUDIT_ARCH_I386,
            ScmpArch::Aarch64 => AUDIT_ARCH_AARCH64,
            ScmpArch::Arm => AUDIT_ARCH_ARM,
            _ => continue,
        };
        if let Some(max) = highest_named(config, *arch) {
            let x32 = (audit == AUDIT_ARCH_X86_64).then_some(x32_max).flatten();
            checks.push((audit, max, x32));
        }
    }
    if checks.is_empty() {
        return Ok(Vec::new());
    }
    // Laid out as: load arch; the blocks; `ja filter`; `ret ENOSYS`; (filter follows).
    // Every jump is forward; block lengths are known, so offsets are computed directly.
    // jeq arch, ld nr, [jset x32 bit, [jgt x32 max]] on x86_64, jgt max.
    let block_len = |audit: u32, x32: Option<u32>| match (audit, x32) {
        (AUDIT_ARCH_X86_64, Some(_)) => 5,
        (AUDIT_ARCH_X86_64, None) => 4,
        _ => 3,
    };
    let blocks_len: usize = checks.iter().map(|c| block_len(c.0, c.2)).sum();
    let enosys_at = 1 + blocks_len + 1;
    let filter_at = enosys_at + 1;
    let mut stub = vec![insn(LD_W_ABS, 0, 0, 4)];
    for (audit, max, x32) in checks {
        let start = stub.len();
        let next_block = start + block_len(audit, x32);
        let rel = |from: usize, to: usize| -> u8 { (to - from - 1) as u8 };
        // jeq arch: fall into the block, else on to the next arch's block.
        stub.push(insn(JEQ_K, 0, rel(start, next_block), audit));
        stub.push(insn(LD_W_ABS, 0, 0, 0));
        if audit == AUDIT_ARCH_X86_64 {
            let at = stub.len();
            // An x32 call: to its own bound, or to the filter when x32 is not listed.
            let target = if x32.is_some() { at + 2 } else { filter_at };
            stub.push(insn(JSET_K, rel(at, target), 0, X32_SYSCALL_BIT));
        }
        let at = stub.len();
        stub.push(insn(JGT_K, rel(at, enosys_at), rel(at, filter_at), max));
        if let Some(x32) = x32 {
            let at = stub.len();
            stub.push(insn(JGT_K, rel(at, enosys_at), rel(at, filter_at), x32));
        }
        debug_assert_eq!(stub.len(), next_block);
    }
    stub.push(insn(JA, 0, 0, 1));
    stub.push(insn(RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS as u32));
    debug_assert_eq!(stub.len(), filter_at);
    Ok(stub)
}

/// A compiled filter: classic BPF instructions (`struct sock_filter`, 8 bytes each): the
/// ENOSYS stub, then what libseccomp's `seccomp_load` would hand the kernel for the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    insns: Vec<u8>,
}

impl Program {
    /// Compiles `config` with libseccomp, exports the result and puts the ENOSYS stub in
    /// front of it.
    pub fn compile(config: &LinuxSeccomp) -> Result<Program, SeccompError> {
        let filter = compile(config)?;
        let stub = enosys_stub(config)?;
        let fd = rustix::fs::memfd_create("berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| SeccompError::Export(e.into()))?;
        filter
            .export_bpf(&fd)
            .map_err(|e| SeccompError::Export(std::io::Error::other(e.to_string())))?;
        let mut file = std::fs::File::from(fd);
        let mut insns: Vec<u8> = stub.iter().flat_map(|i| i.to_bytes()).collect();
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
    fn the_enosys_stub_bounds_each_arch_and_is_left_out_for_an_allowing_default() {
        let allowing = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert!(enosys_stub(&allowing).unwrap().is_empty());
        let denying = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[{"names":["read","write","getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let stub = enosys_stub(&denying).unwrap();
        // getpid is the highest: 39 on x86_64 and (with the x32 bit) on x32, 20 on i386.
        let bounds: Vec<u32> = stub
            .iter()
            .filter(|i| i.code == JGT_K)
            .map(|i| i.k)
            .collect();
        assert_eq!(bounds, [39, 39 | X32_SYSCALL_BIT, 20]);
        assert_eq!(stub.last().unwrap().k, SECCOMP_RET_ERRNO | ENOSYS as u32);
        // Every jump lands inside the stub or on the filter's first instruction.
        for (at, i) in stub.iter().enumerate() {
            if i.code & 0x07 == 0x05 && i.code != JA {
                assert!(at + 1 + usize::from(i.jt) <= stub.len());
                assert!(at + 1 + usize::from(i.jf) <= stub.len());
            }
        }
    }

    #[test]
    fn an_unknown_action_is_refused() {
        let p = profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#);
        assert!(matches!(compile(&p), Err(SeccompError::Action(_))));
    }
}
