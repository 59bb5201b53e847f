//! The plan file as written: types that mirror the YAML of SPEC section 2, field by field.
//!
//! These types only check shape (keys, types, known words). Everything with meaning (times,
//! durations, cron, zones, releases, templates, names) stays a located string here and is
//! checked by `plan::resolve`, which collects every problem instead of stopping at the first.
//! The JSON Schema in `schemas/` is generated from these types, so their doc comments are what
//! an editor shows.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::located::Located;
use super::vocabulary::{
    Acknowledgement, Database, EnvironmentType, NotificationEvent, OnTimeout, Service, StepKind,
};

/// A database refresh plan for a Dynamics 365 Finance and Operations environment (format version 1).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "refreshctl refresh plan")]
pub struct RawPlan {
    /// The plan format version. The only known version is 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: Located<u32>,
    /// The plan's name: lowercase letters, digits and dashes, starting with a letter or digit, at
    /// most 63 characters; unique among the plans validated together.
    #[schemars(pattern(r"^[a-z0-9][a-z0-9-]*$"), length(min = 1, max = 63))]
    pub name: Located<String>,
    /// What this plan is for, in a sentence.
    pub description: Option<Located<String>>,
    /// The service the plan is meant for: `lcs` or `power-platform`. With it, `validate` checks
    /// what that service's adapter can do (`adapter-unsupported`) without `--adapter`, and a run
    /// through another real adapter is refused. The simulator rehearses any plan.
    pub service: Option<Located<Service>>,
    /// The LCS project id; required for LCS, not for the Power Platform.
    #[schemars(range(min = 1))]
    pub project: Option<Located<u64>>,
    /// The TARGET environment: its database is replaced.
    pub environment: Located<RawEnvironment>,
    /// Copy this environment's database into the target. Absent: restore the target's own
    /// database to `point_in_time`.
    pub source: Option<Located<RawEnvironment>>,
    /// The database to replace; only `finance-operations` can be refreshed or restored.
    pub database: Option<Located<Database>>,
    /// `latest` (the default), an RFC 3339 time with an offset, or a duration before the window
    /// starts written with a minus sign, such as `-6h`.
    pub point_in_time: Option<Located<String>>,
    /// When the target may be offline: a fixed `start` with `duration` or `end`, or a recurring
    /// `cron` with `duration`.
    pub window: Located<RawWindow>,
    /// How long before the window the request is made; default 24h, never less than 24h.
    pub lead_time: Option<Located<String>>,
    /// The statements the operator accepts: `target-database-erased` and `target-unavailable`.
    pub acknowledge: Located<Vec<Located<Acknowledgement>>>,
    /// Steps run in order after the window opened and before the refresh starts: `export`
    /// (keep a copy of the target's database before it is overwritten) and `manual`. A failure
    /// here stops the run before anything is erased.
    pub pre_steps: Option<Located<Vec<Located<RawStep>>>>,
    /// Steps run in order after the refresh succeeded.
    pub post_steps: Option<Located<Vec<Located<RawStep>>>>,
    /// Web hooks called as the run moves through its states.
    pub notifications: Option<Located<Vec<Located<RawNotification>>>>,
    /// Options of a copy or restore through the Power Platform API.
    pub power_platform: Option<Located<super::power_platform::RawPowerPlatform>>,
}

impl RawPlan {
    /// Whether the plan says it is for the Power Platform: `service: power-platform`, or
    /// `power_platform` options.
    #[must_use]
    pub fn for_power_platform(&self) -> bool {
        self.power_platform.is_some()
            || self
                .service
                .as_ref()
                .is_some_and(|service| service.value == Service::PowerPlatform)
    }
}

/// An F&O environment as the plan describes it. Facts left out are looked up through the adapter.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    /// The environment's name in LCS.
    #[schemars(length(min = 1))]
    pub name: Located<String>,
    /// The LCS environment id; otherwise resolved by name through the adapter.
    pub id: Option<Located<String>>,
    /// The environment's type.
    #[serde(rename = "type")]
    pub kind: Option<Located<EnvironmentType>>,
    /// The application release, such as "10.0.41", "7.3" or "July 2017". Quote it.
    pub release: Option<Located<String>>,
    /// KB numbers already applied, such as KB4035399.
    pub hotfixes: Option<Located<Vec<Located<String>>>>,
    /// The name of the default channel database.
    pub channel_database: Option<Located<String>>,
    /// The name of the default channel data group.
    pub channel_data_group: Option<Located<String>>,
}

/// When the target may be offline.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["start", "duration"], "not": {"anyOf": [{"required": ["end"]}, {"required": ["cron"]}]}},
    {"required": ["start", "end"], "not": {"anyOf": [{"required": ["duration"]}, {"required": ["cron"]}]}},
    {"required": ["cron", "duration"], "not": {"anyOf": [{"required": ["start"]}, {"required": ["end"]}]}}
]))]
pub struct RawWindow {
    /// The start of a fixed window: an RFC 3339 time with an offset.
    pub start: Option<Located<String>>,
    /// How long the window lasts, such as 3h or "1h 30m".
    pub duration: Option<Located<String>>,
    /// The end of a fixed window: an RFC 3339 time with an offset, after `start`.
    pub end: Option<Located<String>>,
    /// A 5-field cron expression giving the start of each window of a recurring plan.
    pub cron: Option<Located<String>>,
    /// The IANA time zone of the cron expression (default UTC); for a fixed window, the zone the
    /// preview shows times in.
    pub timezone: Option<Located<String>>,
}

/// One post step: a kind name, or a map with exactly one key, the kind, holding its options.
#[derive(Debug)]
pub enum RawStep {
    Reprovision(RawReprovision),
    ResetFinancialReporting,
    Deploy(RawDeploy),
    Command(RawCommand),
    Manual(RawManual),
    Export(RawExport),
}

impl RawStep {
    #[must_use]
    pub const fn kind(&self) -> StepKind {
        match self {
            Self::Reprovision(_) => StepKind::Reprovision,
            Self::ResetFinancialReporting => StepKind::ResetFinancialReporting,
            Self::Deploy(_) => StepKind::Deploy,
            Self::Command(_) => StepKind::Command,
            Self::Manual(_) => StepKind::Manual,
            Self::Export(_) => StepKind::Export,
        }
    }
}

/// Options of the Environment reprovisioning tool step.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReprovision {
    /// The name of the shared asset to download (default "Environment reprovisioning tool").
    pub package: Option<Located<String>>,
    /// Upload this local file instead of downloading the shared asset.
    pub file: Option<Located<String>>,
}

/// Options of a software deployable package deployment: exactly one of `file` and `asset`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["file"]}, {"required": ["asset"]}]))]
pub struct RawDeploy {
    /// A local package file to upload to the project's asset library.
    pub file: Option<Located<String>>,
    /// The id of an asset already in the project's asset library.
    pub asset: Option<Located<String>>,
    /// The update name shown in the environment's history (default: the file or asset name).
    pub name: Option<Located<String>>,
}

/// A local command run after the refresh.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCommand {
    /// The program and its arguments; each item is a tera template.
    #[schemars(length(min = 1))]
    pub run: Located<Vec<Located<String>>>,
    /// How long the command may run (default 30m).
    pub timeout: Option<Located<String>>,
}

/// A step an operator does by hand and then approves.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("dependencies" = {"on_timeout": ["timeout"], "remind_every": ["on_timeout"]}))]
pub struct RawManual {
    /// What the operator must do.
    #[schemars(length(min = 1))]
    pub instructions: Located<String>,
    /// How long the step may wait for its approval (at least 1m), counted by `tick` and `daemon`
    /// from when the run began to wait.
    pub timeout: Option<Located<String>>,
    /// What happens when `timeout` passes without an approval: `fail` (the default) fails the
    /// run and releases the environment; `remind` keeps waiting and sends an `awaiting-approval`
    /// reminder then and every `remind_every`.
    pub on_timeout: Option<Located<OnTimeout>>,
    /// With `on_timeout: remind`: the time between reminders (at least 15m; default: the
    /// `timeout`).
    pub remind_every: Option<Located<String>>,
}

/// Options of a database export: the target's database to the project's asset library as a
/// bacpac, monitored until it completes. It counts toward LCS's 3 database operations per
/// environment per 24 hours.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExport {
    /// The backup's name, without an extension (a tera template; letters, digits, `-`, `_`
    /// and `.` once rendered, at most 100 characters). Default: the target's name and the
    /// window's start, such as `contoso-uat-20261205T2100Z-export`.
    #[schemars(length(min = 1))]
    pub name: Option<Located<String>>,
}

/// An options map for a step kind that takes none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoOptions {}

/// A web hook called with a JSON body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNotification {
    /// The http or https URL to POST to.
    pub url: Located<String>,
    /// The events to send (default: all).
    pub on: Option<Located<Vec<Located<NotificationEvent>>>>,
    /// A tera template for the JSON body, relative to the plan file.
    pub template: Option<Located<String>>,
}

impl<'de> Deserialize<'de> for RawStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StepVisitor)
    }
}

struct StepVisitor;

impl<'de> Visitor<'de> for StepVisitor {
    type Value = RawStep;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a step kind, or a map with exactly one key, the step kind")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<RawStep, E> {
        match StepKind::from_name(name) {
            Some(StepKind::Reprovision) => Ok(RawStep::Reprovision(RawReprovision::default())),
            Some(StepKind::ResetFinancialReporting) => Ok(RawStep::ResetFinancialReporting),
            Some(StepKind::Export) => Ok(RawStep::Export(RawExport::default())),
            Some(kind @ (StepKind::Deploy | StepKind::Command | StepKind::Manual)) => {
                Err(E::custom(format!(
                    "step `{kind}` needs options; write it as a map: `- {kind}: {{...}}`"
                )))
            }
            None => Err(E::unknown_variant(name, &StepKind::NAMES)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawStep, A::Error> {
        let Some(name) = map.next_key::<String>()? else {
            return Err(de::Error::custom(
                "a step map needs exactly one key, the step kind",
            ));
        };
        let step = match StepKind::from_name(&name) {
            Some(StepKind::Reprovision) => RawStep::Reprovision(
                map.next_value::<Option<RawReprovision>>()?
                    .unwrap_or_default(),
            ),
            Some(StepKind::ResetFinancialReporting) => {
                map.next_value::<Option<NoOptions>>()?;
                RawStep::ResetFinancialReporting
            }
            Some(StepKind::Deploy) => RawStep::Deploy(map.next_value()?),
            Some(StepKind::Command) => RawStep::Command(map.next_value()?),
            Some(StepKind::Manual) => RawStep::Manual(map.next_value()?),
            Some(StepKind::Export) => {
                RawStep::Export(map.next_value::<Option<RawExport>>()?.unwrap_or_default())
            }
            None => return Err(de::Error::unknown_variant(&name, &StepKind::NAMES)),
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "a step map has exactly one key, the step kind; `{extra}` is a second key \
                 (indent options under `{name}:`)"
            )));
        }
        Ok(step)
    }
}

impl JsonSchema for RawStep {
    fn schema_name() -> Cow<'static, str> {
        "PostStep".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one_key = |key: &str, options: Schema| {
            json_schema!({
                "type": "object",
                "properties": { key: options },
                "required": [key],
                "additionalProperties": false
            })
        };
        let reprovision = generator.subschema_for::<Option<RawReprovision>>();
        let empty = json_schema!({
            "type": ["object", "null"],
            "additionalProperties": false
        });
        json_schema!({
            "description": "A step: `reprovision`, `reset-financial-reporting` or `export` alone, or \
                a map with exactly one key, the step kind, holding its options.",
            "oneOf": [
                { "type": "string", "enum": ["reprovision", "reset-financial-reporting", "export"] },
                one_key("reprovision", reprovision),
                one_key("reset-financial-reporting", empty),
                one_key("deploy", generator.subschema_for::<RawDeploy>()),
                one_key("command", generator.subschema_for::<RawCommand>()),
                one_key("manual", generator.subschema_for::<RawManual>()),
                one_key("export", generator.subschema_for::<Option<RawExport>>()),
            ]
        })
    }
}
