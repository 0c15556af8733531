//! API versions: parsing, the supported range, and every decision that depends on the version
//! a client asked for. Handlers ask this module, never compare version numbers themselves.

use crate::error::ApiError;
use std::fmt;
use std::str::FromStr;

/// An Engine API version such as `1.50`. Ordered numerically (1.9 < 1.24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    /// The oldest version we serve (Docker 28's minimum).
    pub const MIN: ApiVersion = ApiVersion::new(1, 24);
    /// The newest version we serve: the version of the API contract in shared/specs.
    pub const MAX: ApiVersion = ApiVersion::new(1, 50);
    /// What an unversioned request is served as.
    pub const DEFAULT: ApiVersion = ApiVersion::MAX;

    pub const fn new(major: u32, minor: u32) -> ApiVersion {
        ApiVersion { major, minor }
    }

    /// Checks a version taken from a `/vX.Y/` prefix against the supported range, with
    /// Docker's messages (moby api/server/middleware/version.go).
    pub fn negotiate(requested: Option<&str>) -> Result<ApiVersion, ApiError> {
        let Some(text) = requested else {
            return Ok(ApiVersion::DEFAULT);
        };
        let version: ApiVersion = text.parse().map_err(|_| {
            ApiError::invalid(format!(
                "invalid API version {text:?}: expected MAJOR.MINOR"
            ))
        })?;
        if version < ApiVersion::MIN {
            return Err(ApiError::invalid(format!(
                "client version {text} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
                ApiVersion::MIN
            )));
        }
        if version > ApiVersion::MAX {
            return Err(ApiError::invalid(format!(
                "client version {text} is too new. Maximum supported API version is {}",
                ApiVersion::MAX
            )));
        }
        Ok(version)
    }

    /// Container and image events carry the deprecated top-level `status`, `id` and `from`
    /// fields up to API 1.51 (moby removed them from 1.52 on).
    pub fn events_have_legacy_fields(self) -> bool {
        self < ApiVersion::new(1, 52)
    }

    /// `GET /system/df` accepts the `type` query parameter from API 1.42 on.
    pub fn df_accepts_type_filter(self) -> bool {
        self >= ApiVersion::new(1, 42)
    }

    /// An upgraded attach or exec without a TTY is announced as
    /// `application/vnd.docker.multiplexed-stream` from API 1.42 on (raw-stream before).
    pub fn announces_multiplexed_stream(self) -> bool {
        self >= ApiVersion::new(1, 42)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The text was not of the form `MAJOR.MINOR` (Docker also accepts a bare `MAJOR`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an API version")]
pub struct ParseVersionError;

impl FromStr for ApiVersion {
    type Err = ParseVersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (major, minor) = text.split_once('.').unwrap_or((text, "0"));
        let number = |part: &str| {
            if part.is_empty() || part.len() > 6 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseVersionError);
            }
            part.parse::<u32>().map_err(|_| ParseVersionError)
        };
        Ok(ApiVersion::new(number(major)?, number(minor)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_numerically_not_lexically() {
        assert!("1.9".parse::<ApiVersion>().unwrap() < "1.24".parse().unwrap());
        assert!("1.50".parse::<ApiVersion>().unwrap() > "1.5".parse().unwrap());
    }

    #[test]
    fn none_means_the_default() {
        assert_eq!(ApiVersion::negotiate(None).unwrap(), ApiVersion::DEFAULT);
    }

    #[test]
    fn range_edges() {
        assert_eq!(
            ApiVersion::negotiate(Some("1.24")).unwrap(),
            ApiVersion::MIN
        );
        assert_eq!(
            ApiVersion::negotiate(Some("1.50")).unwrap(),
            ApiVersion::MAX
        );
        let too_old = ApiVersion::negotiate(Some("1.23")).unwrap_err();
        assert_eq!(
            too_old.message,
            "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
        );
        let too_new = ApiVersion::negotiate(Some("1.51")).unwrap_err();
        assert_eq!(
            too_new.message,
            "client version 1.51 is too new. Maximum supported API version is 1.50"
        );
        assert!(ApiVersion::negotiate(Some("1")).is_err());
        assert!(ApiVersion::negotiate(Some("1.x")).is_err());
        assert!(ApiVersion::negotiate(Some("")).is_err());
    }
}
