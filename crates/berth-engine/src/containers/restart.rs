//! Restart policies (`no`, `on-failure[:max]`, `always`, `unless-stopped`): validation with
//! moby's messages (`api/types/container/hostconfig.go`), and the per-container restart
//! manager with moby's backoff (`restartmanager/restartmanager.go`): the delay doubles from
//! 100 ms up to a minute and starts over once the container has run for 10 s. Stop and kill
//! cancel a manager; a start (by the API or at daemon start-up) gets a fresh one.

use berth_api::models::container::RestartPolicy;
use berth_api::ApiError;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A container that ran this long starts the backoff over.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// A parsed policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    No,
    Always,
    UnlessStopped,
    /// `on-failure` with its maximum retry count (0: no limit).
    OnFailure(i64),
}

impl Policy {
    pub fn of(policy: &RestartPolicy) -> Policy {
        match policy.name.as_str() {
            "always" => Policy::Always,
            "unless-stopped" => Policy::UnlessStopped,
            "on-failure" => Policy::OnFailure(policy.maximum_retry_count),
            _ => Policy::No,
        }
    }

    /// moby's `ShouldRestart` decision (without the manager's cancel flag).
    pub fn should_restart(self, exit_code: i64, manually_stopped: bool, restarts: i64) -> bool {
        match self {
            Policy::No => false,
            Policy::Always => true,
            Policy::UnlessStopped => !manually_stopped,
            Policy::OnFailure(max) => (max == 0 || restarts < max) && exit_code != 0,
        }
    }
}

/// Docker's `ValidateRestartPolicy` and the AutoRemove rule; an empty name becomes `no`,
/// as inspect shows it.
pub fn validate(policy: &mut RestartPolicy, auto_remove: bool) -> Result<(), ApiError> {
    match policy.name.as_str() {
        "always" | "unless-stopped" | "no" => {
            if policy.maximum_retry_count != 0 {
                let mut message = "invalid restart policy: maximum retry count can only be used \
                                   with 'on-failure'"
                    .to_string();
                if policy.maximum_retry_count < 0 {
                    message.push_str(" and cannot be negative");
                }
                return Err(ApiError::invalid(message));
            }
        }
        "on-failure" => {
            if policy.maximum_retry_count < 0 {
                return Err(ApiError::invalid(
                    "invalid restart policy: maximum retry count cannot be negative",
                ));
            }
        }
        // Versions before 25 sent an empty name for "no", with any count.
        "" => {
            policy.name = "no".into();
            policy.maximum_retry_count = 0;
        }
        other => {
            return Err(ApiError::invalid(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', \
                 'on-failure', or 'unless-stopped'"
            )))
        }
    }
    if auto_remove && policy.name != "no" {
        return Err(ApiError::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    Ok(())
}

/// The backoff: the next delay after a run of `ran_for`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Backoff {
    delay: Duration,
}

impl Backoff {
    pub fn next(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= RESET_AFTER {
            self.delay = Duration::ZERO;
        }
        self.delay = if self.delay.is_zero() {
            FIRST_DELAY
        } else {
            (self.delay * 2).min(MAX_DELAY)
        };
        self.delay
    }
}

#[derive(Debug, Default)]
struct ManagerState {
    backoff: Backoff,
    canceled: bool,
}

/// One container's restart manager, shared by its exit monitor and the operations that
/// cancel it. A canceled manager never restarts again; a start replaces it.
#[derive(Debug, Default)]
pub struct RestartManager {
    state: Mutex<ManagerState>,
    wake: Condvar,
}

impl RestartManager {
    fn lock(&self) -> std::sync::MutexGuard<'_, ManagerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The delay before restarting, or None when the container stays down.
    pub fn decide(
        &self,
        policy: Policy,
        exit_code: i64,
        manually_stopped: bool,
        restarts: i64,
        ran_for: Duration,
    ) -> Option<Duration> {
        let mut state = self.lock();
        if state.canceled || policy == Policy::No {
            return None;
        }
        let delay = state.backoff.next(ran_for);
        policy
            .should_restart(exit_code, manually_stopped, restarts)
            .then_some(delay)
    }

    pub fn cancel(&self) {
        self.lock().canceled = true;
        self.wake.notify_all();
    }

    pub fn canceled(&self) -> bool {
        self.lock().canceled
    }

    /// Sleeps out the delay; false when canceled meanwhile.
    pub fn wait(&self, delay: Duration) -> bool {
        let deadline = std::time::Instant::now() + delay;
        let mut state = self.lock();
        while !state.canceled {
            let now = std::time::Instant::now();
            if now >= deadline {
                return true;
            }
            state = self
                .wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn backoff_doubles_from_100ms_and_resets_after_10s_up() {
        let mut b = Backoff::default();
        let short = Duration::from_secs(1);
        let delays: Vec<u128> = (0..5).map(|_| b.next(short).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600]);
        assert_eq!(b.next(Duration::from_secs(10)).as_millis(), 100);
        assert_eq!(b.next(short).as_millis(), 200);
    }

    #[test]
    fn backoff_stops_at_a_minute() {
        let mut b = Backoff::default();
        let last = (0..20)
            .map(|_| b.next(Duration::ZERO))
            .last()
            .expect("twenty delays");
        assert_eq!(last, Duration::from_secs(60));
    }

    #[test]
    fn policies_decide_as_mobys() {
        assert!(!Policy::No.should_restart(1, false, 0));
        assert!(Policy::Always.should_restart(0, true, 5));
        assert!(Policy::UnlessStopped.should_restart(0, false, 0));
        assert!(!Policy::UnlessStopped.should_restart(0, true, 0));
        assert!(Policy::OnFailure(2).should_restart(1, false, 1));
        assert!(!Policy::OnFailure(2).should_restart(1, false, 2));
        assert!(!Policy::OnFailure(0).should_restart(0, false, 0));
        assert!(Policy::OnFailure(0).should_restart(3, false, 100));
    }

    #[test]
    fn a_canceled_manager_never_restarts() {
        let m = RestartManager::default();
        assert!(m
            .decide(Policy::Always, 0, false, 0, Duration::ZERO)
            .is_some());
        m.cancel();
        assert!(m
            .decide(Policy::Always, 0, false, 0, Duration::ZERO)
            .is_none());
        assert!(
            !m.wait(Duration::from_secs(5)),
            "a canceled wait returns at once"
        );
    }

    #[test]
    fn validation_uses_dockers_messages() {
        let mut p = policy("", 0);
        validate(&mut p, false).unwrap();
        assert_eq!(p.name, "no");
        validate(&mut policy("on-failure", 3), false).unwrap();
        let err = validate(&mut policy("sometimes", 0), false).unwrap_err();
        assert_eq!(
            err.message,
            "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', \
             'on-failure', or 'unless-stopped'"
        );
        let err = validate(&mut policy("always", 2), false).unwrap_err();
        assert_eq!(
            err.message,
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        );
        let err = validate(&mut policy("on-failure", -1), false).unwrap_err();
        assert_eq!(
            err.message,
            "invalid restart policy: maximum retry count cannot be negative"
        );
        let err = validate(&mut policy("always", 0), true).unwrap_err();
        assert_eq!(
            err.message,
            "can't create 'AutoRemove' container with restart policy"
        );
        validate(&mut policy("no", 0), true).unwrap();
    }
}
