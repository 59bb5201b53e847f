//! The options of a copy or restore through the Power Platform API (the plan's `power_platform`
//! key; power-platform-api.md 2.1, 2.3, 4.3, 4.5). Other adapters ignore them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::located::Located;

/// What a Power Platform copy takes from the source (the REST `copyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CopyType {
    /// Everything: data, users, customizations and schemas (the default).
    #[default]
    Full,
    /// Customizations and schemas only, no application data.
    Minimal,
}

impl CopyType {
    /// As the REST API spells it.
    #[must_use]
    pub const fn wire(self) -> &'static str {
        match self {
            Self::Full => "Full",
            Self::Minimal => "Minimal",
        }
    }
}

/// Options of a copy or restore through the Power Platform API.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPowerPlatform {
    /// `full` (the default) or `minimal` (customizations and schemas only); copies only.
    pub copy_type: Option<Located<CopyType>>,
    /// A transaction-less copy of the F&O database (transaction tables truncated); needs
    /// `copy_type: full`; copies only.
    pub transaction_less: Option<Located<bool>>,
    /// Skip the audit data (the service's default when absent).
    pub skip_audit_data: Option<Located<bool>>,
    /// After the operation, switch administration mode off and background operations on
    /// again (default false: the target stays in administration mode, as the service leaves it).
    pub enable_after: Option<Located<bool>>,
}

/// The checked options (defaults filled in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PowerPlatformOptions {
    pub copy_type: CopyType,
    pub transaction_less: bool,
    pub skip_audit_data: Option<bool>,
    pub enable_after: bool,
}

impl PowerPlatformOptions {
    /// The options of `raw`, or the problem with them (place, message, help).
    pub fn resolve(
        raw: &RawPowerPlatform,
    ) -> Result<Self, (Option<super::Place>, String, &'static str)> {
        let options = Self {
            copy_type: raw.copy_type.as_ref().map(|c| c.value).unwrap_or_default(),
            transaction_less: raw.transaction_less.as_ref().is_some_and(|t| t.value),
            skip_audit_data: raw.skip_audit_data.as_ref().map(|s| s.value),
            enable_after: raw.enable_after.as_ref().is_some_and(|e| e.value),
        };
        if options.transaction_less && options.copy_type == CopyType::Minimal {
            return Err((
                raw.transaction_less.as_ref().and_then(|t| t.place),
                "a transaction-less copy is a full copy with the transaction tables truncated; \
                 it cannot be `copy_type: minimal`"
                    .into(),
                "remove `transaction_less`, or use `copy_type: full`",
            ));
        }
        Ok(options)
    }
}
