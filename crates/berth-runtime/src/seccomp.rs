//! Compiles the OCI `linux.seccomp` section with libseccomp (every listed architecture,
//! conditional arguments, errnoRet, defaultErrnoRet) and loads it.
//!
//! Syscalls newer than the profile return ENOSYS, not the default errno, as with runc
//! (`libcontainer/seccomp/patchbpf`): a program that tries a syscall the profile has never
//! heard of (say a new clone variant) then falls back to an older one, as it would on an
//! older kernel, instead of failing with EPERM. A stub in front of libseccomp's program
//! compares the syscall number, per architecture, with the highest number the profile
//! names for that architecture; x32 calls (x86_64 with bit 30) have their own bound.

use berth_sys::seccomp::SockFilter;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall};

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
    #[error("loading the filter into the kernel")]
    LoadStubbed(#[source] std::io::Error),
    #[error("exporting the filter")]
    Export(#[source] std::io::Error),
    #[error("loading the filter into the kernel")]
    Load(#[source] libseccomp::error::SeccompError),
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

/// Compiles and loads the filter into the calling process, behind the ENOSYS stub.
pub fn install(config: &LinuxSeccomp) -> Result<(), SeccompError> {
    let filter = compile(config)?;
    let stub = enosys_stub(config)?;
    if stub.is_empty() {
        return filter.load().map_err(SeccompError::Load);
    }
    let mut program = stub;
    program.extend(export(&filter)?);
    berth_sys::seccomp::load_filter(&program).map_err(SeccompError::LoadStubbed)
}

/// libseccomp's program as instructions (exported through a memfd: libseccomp 2.5 has no
/// export to memory).
fn export(filter: &ScmpFilterContext) -> Result<Vec<SockFilter>, SeccompError> {
    use std::io::{Read, Seek};
    let io = |e: std::io::Error| SeccompError::Export(e);
    let fd = rustix::fs::memfd_create("seccomp-bpf", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| io(e.into()))?;
    filter.export_bpf(&fd).map_err(SeccompError::Load)?;
    let mut file = std::fs::File::from(fd);
    file.rewind().map_err(io)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| SockFilter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
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

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
    SockFilter { code, jt, jf, k }
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
pub fn enosys_stub(config: &LinuxSeccomp) -> Result<Vec<SockFilter>, SeccompError> {
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
