//! Post steps, and the ordered step list of a run (SPEC 4, "Step ids").
//!
//! The same ids are previewed by `plan` and executed by the executor, so both come from here.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::checked::Plan;
use super::time::format_duration;
use super::vocabulary::StepKind;

/// The name of the shared asset the reprovisioning step downloads by default.
pub const DEFAULT_REPROVISION_PACKAGE: &str = "Environment reprovisioning tool";

/// How long a `command` step may run when the plan does not say.
pub const DEFAULT_COMMAND_TIMEOUT: TimeDelta = TimeDelta::minutes(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageSource {
    /// A local file, uploaded to the project's asset library.
    File(String),
    /// An asset already in the project's asset library.
    Asset(String),
}

/// What a manual step does when nobody approves it in time (`timeout` and `on_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualTimeout {
    /// Not approved within `after`: the run fails and the environment is released.
    Fail { after: TimeDelta },
    /// Not approved within `after`: the run keeps waiting, and a reminder goes out then and
    /// every `every` after that.
    Remind { after: TimeDelta, every: TimeDelta },
}

impl ManualTimeout {
    /// The shortest `timeout`: shorter than a scheduler's pass is not a timeout.
    pub const SHORTEST: TimeDelta = TimeDelta::minutes(1);
    /// The shortest `remind_every`: a reminder more often than this is noise.
    pub const SHORTEST_REMINDER: TimeDelta = TimeDelta::minutes(15);

    #[must_use]
    pub const fn after(self) -> TimeDelta {
        match self {
            Self::Fail { after } | Self::Remind { after, .. } => after,
        }
    }

    /// When a step waiting since `since`, with `reminders` sent, must be looked at next: the
    /// timeout, then each reminder (`None`: past the end of time).
    #[must_use]
    pub fn next_due(self, since: DateTime<Utc>, reminders: u32) -> Option<DateTime<Utc>> {
        let first = since.checked_add_signed(self.after())?;
        match self {
            Self::Fail { .. } => Some(first),
            Self::Remind { every, .. } => every
                .checked_mul(i32::try_from(reminders).unwrap_or(i32::MAX))
                .and_then(|later| first.checked_add_signed(later)),
        }
    }

    /// What happens, in words: "not approved within 2d: the run fails and …".
    #[must_use]
    pub fn describe(self) -> String {
        match self {
            Self::Fail { after } => format!(
                "not approved within {}: the run fails and the environment is released",
                format_duration(after)
            ),
            Self::Remind { after, every } => format!(
                "not approved within {}: a reminder (awaiting-approval), then every {} while it waits",
                format_duration(after),
                format_duration(every)
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostStep {
    Reprovision {
        package: String,
        file: Option<String>,
    },
    ResetFinancialReporting,
    Deploy {
        package: PackageSource,
        update_name: String,
    },
    Command {
        run: Vec<String>,
        timeout: TimeDelta,
    },
    Manual {
        instructions: String,
        timeout: Option<ManualTimeout>,
    },
    /// A database export of the target to the project's asset library.
    Export {
        /// The backup name as written (a template), if the plan gave one.
        written: Option<String>,
        /// The name of that template in the plan's templates.
        template: Option<String>,
    },
}

impl PostStep {
    #[must_use]
    pub const fn kind(&self) -> StepKind {
        match self {
            Self::Reprovision { .. } => StepKind::Reprovision,
            Self::ResetFinancialReporting => StepKind::ResetFinancialReporting,
            Self::Deploy { .. } => StepKind::Deploy,
            Self::Command { .. } => StepKind::Command,
            Self::Manual { .. } => StepKind::Manual,
            Self::Export { .. } => StepKind::Export,
        }
    }
}

/// The longest backup name an export step sends (LCS documents none; a file name's length).
pub const MAX_BACKUP_NAME: usize = 100;

/// Checks a rendered backup name: LCS takes it in a URL path and adds `.bacpac` itself.
pub fn check_backup_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the backup name is empty".into());
    }
    if name.chars().count() > MAX_BACKUP_NAME {
        return Err(format!(
            "the backup name has more than {MAX_BACKUP_NAME} characters"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "the backup name `{}` has `{}`; use letters, digits, `-`, `_` and `.`",
            name.escape_default(),
            bad.escape_default()
        ));
    }
    if name.to_ascii_lowercase().ends_with(".bacpac") {
        return Err(format!(
            "the backup name `{name}` ends with `.bacpac`; LCS adds the extension itself"
        ));
    }
    Ok(())
}

/// The backup name of an export step without a `name`: the target, the window's start and
/// the step, such as `contoso-uat-20261205T2100Z-export`.
#[must_use]
pub fn default_backup_name(
    target: &str,
    window_start: chrono::DateTime<chrono::Utc>,
    step: &str,
) -> String {
    let raw = format!(
        "{target}-{}-{}",
        window_start.format("%Y%m%dT%H%MZ"),
        step.trim_end_matches(".start")
    );
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_BACKUP_NAME)
        .collect()
}

/// One step of a run as the preview shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepOutline {
    pub id: String,
    pub description: String,
    /// What the step calls: LCS API requests, a local program, or an operator.
    pub calls: Vec<String>,
}

impl Plan {
    /// The ordered steps of a run of this plan.
    #[must_use]
    pub fn step_outline(&self) -> Vec<StepOutline> {
        let project = self.project();
        let target = self.environment().name();
        let mut steps = vec![
            StepOutline {
                id: "preflight".into(),
                description: format!(
                    "look up {}{} through the adapter and check the live facts: the \
                     environments exist, the target is not production and not busy, the \
                     operation limit allows another operation",
                    inline_code(target),
                    self.source()
                        .map(|source| format!(" and {}", inline_code(source.name())))
                        .unwrap_or_default()
                ),
                calls: vec![format!(
                    "GET environmentinfo/v1/detail/project/{project}/?environmentName=..."
                )],
            },
            StepOutline {
                id: "submit".into(),
                description: "record the request in the state store; notifications go out".into(),
                calls: vec![],
            },
            StepOutline {
                id: "wait-for-window".into(),
                description: "wait until the window opens".into(),
                calls: vec![],
            },
        ];
        for (base, _, step) in self.numbered_pre_steps() {
            steps.extend(outline_post_step(&base, step, project, target));
        }
        if let Some(source) = self.source() {
            steps.push(StepOutline {
                id: "start-refresh".into(),
                description: format!(
                    "copy the {} database of {} into {}; the target's database is erased",
                    self.database().as_str(),
                    inline_code(source.name()),
                    inline_code(target)
                ),
                calls: vec![format!(
                    "POST databasemovement/v1/refresh/project/{project}/source/{{source id}}/target/{{target id}}"
                )],
            });
            steps.push(StepOutline {
                id: "monitor-refresh".into(),
                description: "poll the operation until it completes or fails".into(),
                calls: vec![format!(
                    "GET databasemovement/v1/fetchstatus/project/{project}/environment/{{target id}}/operationactivity/{{id}}"
                )],
            });
        } else {
            steps.push(StepOutline {
                id: "start-restore".into(),
                description: format!(
                    "restore the {} database of {} to {}",
                    self.database().as_str(),
                    inline_code(target),
                    self.point_in_time().in_words()
                ),
                calls: vec![
                    "point-in-time restore (the LCS API has none: simulator only; in LCS it is \
                     done in the portal)"
                        .into(),
                ],
            });
            steps.push(StepOutline {
                id: "monitor-restore".into(),
                description: "poll the operation until it completes or fails".into(),
                calls: vec![],
            });
        }
        for (base, _, step) in self.numbered_post_steps() {
            steps.extend(outline_post_step(&base, step, project, target));
        }
        steps
    }

    /// Each post step with its index and the base of its step ids: the kind, and `#2`, `#3`…
    /// on later steps of the same kind (counted from the pre steps on).
    pub fn numbered_post_steps(&self) -> impl Iterator<Item = (String, usize, &PostStep)> {
        self.numbered_steps()
            .into_iter()
            .filter(|(_, pre, _, _)| !pre)
            .map(|(base, _, index, step)| (base, index, step))
    }

    /// Each pre step with its index and the base of its step ids, as for post steps.
    pub fn numbered_pre_steps(&self) -> impl Iterator<Item = (String, usize, &PostStep)> {
        self.numbered_steps()
            .into_iter()
            .filter(|(_, pre, _, _)| *pre)
            .map(|(base, _, index, step)| (base, index, step))
    }

    /// The pre steps, then the post steps: base id, whether it is a pre step, index in its
    /// list, the step.
    fn numbered_steps(&self) -> Vec<(String, bool, usize, &PostStep)> {
        let mut used = std::collections::HashMap::<StepKind, usize>::new();
        let pre = self.pre_steps().iter().map(|step| (true, step));
        let post = self.post_steps().iter().map(|step| (false, step));
        let mut indexes = [0_usize; 2];
        pre.chain(post)
            .map(|(is_pre, step)| {
                let slot = &mut indexes[usize::from(!is_pre)];
                let index = *slot;
                *slot += 1;
                let count = used.entry(step.kind()).or_default();
                *count += 1;
                let base = if *count == 1 {
                    step.kind().as_str().to_owned()
                } else {
                    format!("{}#{count}", step.kind())
                };
                (base, is_pre, index, step)
            })
            .collect()
    }
}

/// What an operator does for the `reset-financial-reporting` step of a refresh of `target`: no
/// adapter can do it (LCS has no call for it), so every run waits for it as a manual step, and
/// the preview says the same.
#[must_use]
pub fn reset_financial_reporting_instructions(target: &str) -> String {
    format!(
        "Reset the Financial reporting data mart of `{target}`: sign in to `{target}`, open \
         General ledger > Inquiries and reports > Financial reports, select New to open Report \
         designer, choose Tools > Reset data mart, give the reason \"Restored database\" and \
         select OK. Afterwards, in Report designer choose Tools > Integration status and check \
         that every integration task has run to completion without errors, then generate one \
         financial report and check that it shows the balances of the new database."
    )
}

fn outline_post_step(base: &str, step: &PostStep, project: u64, target: &str) -> Vec<StepOutline> {
    let outliner = Outliner {
        base,
        project,
        target,
    };
    match step {
        PostStep::Reprovision { package, file } => outliner.reprovision(package, file.as_deref()),
        PostStep::ResetFinancialReporting => vec![outliner.step(
            "",
            format!(
                "a manual step with every adapter (LCS has no call for it, and a rehearsal \
                 waits for it as a real run does): {}",
                reset_financial_reporting_instructions(target)
            ),
            vec![
                "operator: Report designer > Tools > Reset data mart, in the target environment"
                    .into(),
                "operator: refreshctl approve RUN reset-financial-reporting".into(),
            ],
        )],
        PostStep::Deploy {
            package,
            update_name,
        } => outliner.deploy(package, update_name),
        PostStep::Command { run, timeout } => vec![outliner.step(
            "",
            command_description(run, *timeout),
            vec![format!(
                "local program {}",
                inline_code(run.first().map_or("", String::as_str))
            )],
        )],
        PostStep::Manual {
            instructions,
            timeout,
        } => vec![outliner.step(
            "",
            match timeout {
                None => format!("wait for an operator: {instructions}"),
                Some(timeout) => format!(
                    "wait for an operator: {instructions} ({})",
                    timeout.describe()
                ),
            },
            vec!["operator: refreshctl approve RUN STEP".into()],
        )],
        PostStep::Export { written, .. } => outliner.export(written.as_deref()),
    }
}

/// `text` as a code span that holds it whole: the fence is longer than any run of backticks
/// inside, with a space inside the fence where the text starts or ends with one (as Markdown reads code spans).
#[must_use]
pub fn inline_code(text: &str) -> String {
    let longest_run = text
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or_default();
    let fence = "`".repeat(longest_run + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// What a `command` step's outline says it does: `arguments` as written, or as rendered.
#[must_use]
pub fn command_description(arguments: &[String], timeout: TimeDelta) -> String {
    format!(
        "run {} (timeout {})",
        inline_code(&arguments.join(" ")),
        format_duration(timeout)
    )
}

/// Builds the outline of one post step: ids under `base`, calls for `project` and `target`.
struct Outliner<'a> {
    base: &'a str,
    project: u64,
    target: &'a str,
}

impl Outliner<'_> {
    fn step(&self, suffix: &str, description: String, calls: Vec<String>) -> StepOutline {
        StepOutline {
            id: if suffix.is_empty() {
                self.base.to_owned()
            } else {
                format!("{}.{suffix}", self.base)
            },
            description,
            calls,
        }
    }

    fn upload(&self, description: String) -> StepOutline {
        let project = self.project;
        self.step(
            "upload",
            description,
            vec![
                format!("POST box/fileasset/CreateFileAsset/{project}"),
                "PUT {SAS location}&comp=block, then &comp=blocklist".into(),
                format!("POST box/fileasset/CommitFileAsset/{project}?assetId={{asset id}}"),
                format!(
                    "GET box/fileasset/GetFileAssetValidationStatus/{project}?assetId={{asset id}}"
                ),
            ],
        )
    }

    fn apply_and_monitor(&self, what: &str, update_name: &str) -> [StepOutline; 2] {
        let project = self.project;
        [
            self.step(
                "apply",
                format!(
                    "apply {what} to {} as the update \"{update_name}\"",
                    inline_code(self.target)
                ),
                vec![format!(
                    "POST environment/v2/applyupdate/project/{project}/environment/{{target id}}/asset/{{asset id}}?updateName=..."
                )],
            ),
            self.step(
                "monitor",
                "poll the deployment until it completes or fails".into(),
                vec![format!(
                    "GET environment/v2/fetchstatus/project/{project}/environment/{{target id}}/operationactivity/{{id}}"
                )],
            ),
        ]
    }

    fn export(&self, written: Option<&str>) -> Vec<StepOutline> {
        let project = self.project;
        let name = written.map_or_else(
            || "named after the target and the window".to_owned(),
            |name| format!("named {}", inline_code(name)),
        );
        vec![
            self.step(
                "start",
                format!(
                    "export the database of {} to the project's asset library as a bacpac {name} \
                     (one of LCS's 3 database operations per 24 hours; the target is unavailable \
                     while it runs)",
                    inline_code(self.target)
                ),
                vec![format!(
                    "POST databasemovement/v1/export/project/{project}/environment/{{target id}}/backupName/{{backup name}}"
                )],
            ),
            self.step(
                "monitor",
                "poll the export until it completes or fails".into(),
                vec![format!(
                    "GET databasemovement/v1/fetchstatus/project/{project}/environment/{{target id}}/operationactivity/{{id}}"
                )],
            ),
        ]
    }

    fn reprovision(&self, package: &str, file: Option<&str>) -> Vec<StepOutline> {
        let mut list = Vec::new();
        if let Some(file) = file {
            list.push(self.upload(format!(
                "upload {} to the project's asset library as a software deployable package \
                 and wait for validation",
                inline_code(file)
            )));
        } else {
            list.push(self.step(
                "download",
                format!(
                    "download the newest shared asset \"{package}\" (software deployable package) \
                     to the local cache, unless cached"
                ),
                vec![
                    "GET box/fileasset/GetSharedAssets?fileType=10".into(),
                    format!(
                        "GET box/fileasset/GetFileAsset/{}?assetId={{shared asset id}}",
                        self.project
                    ),
                ],
            ));
            list.push(
                self.upload(
                    "upload it to the project's asset library and wait for validation".into(),
                ),
            );
        }
        list.extend(self.apply_and_monitor("the Environment reprovisioning tool", package));
        list
    }

    fn deploy(&self, package: &PackageSource, update_name: &str) -> Vec<StepOutline> {
        let mut list = Vec::new();
        let what = match package {
            PackageSource::File(file) => {
                list.push(self.upload(format!(
                    "upload {} to the project's asset library and wait for validation",
                    inline_code(file)
                )));
                inline_code(file)
            }
            PackageSource::Asset(asset) => format!("asset {asset}"),
        };
        list.extend(self.apply_and_monitor(&what, update_name));
        list
    }
}

/// What the executor does for one step id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Preflight,
    Submit,
    WaitForWindow,
    StartRefresh,
    MonitorRefresh,
    StartRestore,
    MonitorRestore,
    /// Download the newest shared asset of this name to the local cache.
    DownloadShared {
        package: String,
    },
    /// Upload a file to the project's asset library and wait until it is validated.
    Upload {
        file: UploadSource,
        name: String,
    },
    /// Apply an asset to the target as an update.
    ApplyUpdate {
        asset: AssetSource,
        update_name: String,
    },
    /// Poll the deployment started by the step `apply_step`.
    MonitorDeployment {
        apply_step: String,
    },
    ResetFinancialReporting,
    /// Run a local program; its arguments are the templates `post_steps[index].run[n]`.
    Command {
        index: usize,
        arguments: usize,
        timeout: TimeDelta,
    },
    Manual {
        instructions: String,
        timeout: Option<ManualTimeout>,
    },
    /// Start a database export of the target; the backup name is the template of that name in
    /// the plan's templates, or the default name.
    StartExport {
        template: Option<String>,
    },
    /// Poll the export started by the step `start_step`.
    MonitorExport {
        start_step: String,
    },
}

/// Where an upload's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadSource {
    /// A file named by the plan, relative to the plan file.
    Local(String),
    /// The file the step with this id downloaded.
    Downloaded(String),
}

/// Which asset an update applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetSource {
    /// The asset the step with this id uploaded.
    Uploaded(String),
    Existing(String),
}

/// One step of a run, as the executor runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    pub id: String,
    pub action: Action,
}

impl Plan {
    /// The steps of a run of this plan, with the same ids as [`Plan::step_outline`].
    #[must_use]
    pub fn run_steps(&self) -> Vec<RunStep> {
        let mut steps = vec![
            run_step("preflight", Action::Preflight),
            run_step("submit", Action::Submit),
            run_step("wait-for-window", Action::WaitForWindow),
        ];
        for (base, index, pre_step) in self.numbered_pre_steps() {
            steps.extend(post_step_actions(&base, index, pre_step));
        }
        if self.source().is_some() {
            steps.push(run_step("start-refresh", Action::StartRefresh));
            steps.push(run_step("monitor-refresh", Action::MonitorRefresh));
        } else {
            steps.push(run_step("start-restore", Action::StartRestore));
            steps.push(run_step("monitor-restore", Action::MonitorRestore));
        }
        for (base, index, post_step) in self.numbered_post_steps() {
            steps.extend(post_step_actions(&base, index, post_step));
        }
        steps
    }
}

fn run_step(id: &str, action: Action) -> RunStep {
    RunStep {
        id: id.to_owned(),
        action,
    }
}

/// The executable steps of one post step; ids under `base`.
fn post_step_actions(base: &str, index: usize, post_step: &PostStep) -> Vec<RunStep> {
    let id = |suffix: &str| format!("{base}.{suffix}");
    let deployment = |asset: AssetSource, update_name: &str| {
        [
            run_step(
                &id("apply"),
                Action::ApplyUpdate {
                    asset,
                    update_name: update_name.to_owned(),
                },
            ),
            run_step(
                &id("monitor"),
                Action::MonitorDeployment {
                    apply_step: id("apply"),
                },
            ),
        ]
    };
    let mut steps = Vec::new();
    match post_step {
        PostStep::Reprovision { package, file } => {
            let source = if let Some(file) = file {
                UploadSource::Local(file.clone())
            } else {
                steps.push(run_step(
                    &id("download"),
                    Action::DownloadShared {
                        package: package.clone(),
                    },
                ));
                UploadSource::Downloaded(id("download"))
            };
            steps.push(run_step(
                &id("upload"),
                Action::Upload {
                    file: source,
                    name: package.clone(),
                },
            ));
            steps.extend(deployment(AssetSource::Uploaded(id("upload")), package));
        }
        PostStep::Deploy {
            package,
            update_name,
        } => {
            let asset = match package {
                PackageSource::File(file) => {
                    steps.push(run_step(
                        &id("upload"),
                        Action::Upload {
                            file: UploadSource::Local(file.clone()),
                            name: update_name.clone(),
                        },
                    ));
                    AssetSource::Uploaded(id("upload"))
                }
                PackageSource::Asset(asset) => AssetSource::Existing(asset.clone()),
            };
            steps.extend(deployment(asset, update_name));
        }
        PostStep::ResetFinancialReporting => {
            steps.push(run_step(base, Action::ResetFinancialReporting));
        }
        PostStep::Command { run, timeout } => steps.push(run_step(
            base,
            Action::Command {
                index,
                arguments: run.len(),
                timeout: *timeout,
            },
        )),
        PostStep::Manual {
            instructions,
            timeout,
        } => steps.push(run_step(
            base,
            Action::Manual {
                instructions: instructions.clone(),
                timeout: *timeout,
            },
        )),
        PostStep::Export { template, .. } => {
            steps.push(run_step(
                &id("start"),
                Action::StartExport {
                    template: template.clone(),
                },
            ));
            steps.push(run_step(
                &id("monitor"),
                Action::MonitorExport {
                    start_step: id("start"),
                },
            ));
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_timeout_is_due_at_the_timeout_then_at_each_reminder() {
        let since: DateTime<Utc> = "2026-11-29T00:30:00Z".parse().expect("time");
        let hours = TimeDelta::hours;
        let fail = ManualTimeout::Fail { after: hours(48) };
        let remind = ManualTimeout::Remind {
            after: hours(48),
            every: hours(12),
        };
        let cases = [
            (fail, 0, Some("2026-12-01T00:30:00Z")),
            (fail, 5, Some("2026-12-01T00:30:00Z")),
            (remind, 0, Some("2026-12-01T00:30:00Z")),
            (remind, 1, Some("2026-12-01T12:30:00Z")),
            (remind, 4, Some("2026-12-03T00:30:00Z")),
            (remind, u32::MAX, None),
        ];
        for (timeout, reminders, expected) in cases {
            assert_eq!(
                timeout.next_due(since, reminders),
                expected.map(|text| text.parse().expect("time")),
                "{timeout:?} after {reminders} reminder(s)"
            );
        }
        assert_eq!(
            remind.describe(),
            "not approved within 48h: a reminder (awaiting-approval), then every 12h while it waits"
        );
    }

    #[test]
    fn a_code_span_holds_any_backticks() {
        let cases = [
            ("contoso-uat", "`contoso-uat`"),
            ("echo `date`", "`` echo `date` ``"),
            ("a``b", "```a``b```"),
            ("`x`", "`` `x` ``"),
            ("", "``"),
        ];
        for (text, expected) in cases {
            assert_eq!(inline_code(text), expected, "{text:?}");
        }
        assert_eq!(
            command_description(
                &["sh".into(), "-c".into(), "a`b".into()],
                TimeDelta::minutes(5)
            ),
            "run ``sh -c a`b`` (timeout 5m)"
        );
    }
}
