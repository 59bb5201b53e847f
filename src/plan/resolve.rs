//! From raw plan to checked plan: every value with meaning is parsed here, every problem is
//! reported as a `schema` diagnostic, and nothing stops at the first one. Each part that
//! resolved is kept, so the rules can still run on the rest of a plan with a broken part.

use std::path::Path;

use chrono::{TimeDelta, Utc};

use super::checked::{Environment, Notification, Plan, Release};
use super::located::Located;
use super::point_in_time::PointInTime;
use super::power_platform::PowerPlatformOptions;
use super::raw::{
    RawCommand, RawDeploy, RawEnvironment, RawExport, RawManual, RawPlan, RawStep, RawWindow,
};
use super::step::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_REPROVISION_PACKAGE, ManualTimeout, PackageSource, PostStep,
    check_backup_name,
};
use super::templates::{TemplateBuilder, Templates, sample_tera_context};
use super::time::{
    DURATION_HELP, MAX_DURATION, TIME_HELP, format_duration, in_range, out_of_range,
    parse_duration, parse_time, sub_in_range,
};
use super::vocabulary::{Database, NotificationEvent, OnTimeout, StepKind};
use super::window::{Occurrence, Window, Zone, parse_cron, parse_zone};
use crate::input::{MAX_TEMPLATE_BYTES, read_text_capped};
use crate::rules::catalog::{Catalog, normalize_kb};
use crate::rules::{Findings, Rule};

/// The default and the minimum lead time.
pub const MINIMUM_LEAD_TIME: TimeDelta = TimeDelta::hours(24);

/// The parts of a plan that resolved; `None` where the part had an error (already reported).
#[derive(Debug)]
pub struct Resolved {
    pub name: Option<String>,
    pub environment: Option<Environment>,
    pub source: Option<Option<Environment>>,
    pub window: Option<Window>,
    pub lead_time: Option<TimeDelta>,
    pub point_in_time: Option<PointInTime>,
    pub pre_steps: Option<Vec<PostStep>>,
    pub post_steps: Option<Vec<PostStep>>,
    pub notifications: Option<Vec<Notification>>,
    pub templates: Option<Templates>,
    pub version_ok: bool,
    pub project_ok: bool,
    pub power_platform: Option<PowerPlatformOptions>,
}

/// Resolves every part of `raw`. `plan_dir` is where relative template paths start.
pub fn resolve(
    raw: &RawPlan,
    plan_dir: &Path,
    catalog: &Catalog,
    findings: &mut Findings,
) -> Resolved {
    let version_ok = raw.version.value == 1;
    if !version_ok {
        findings.push(
            Rule::Schema,
            raw.version.place,
            format!("unknown plan format version {}", raw.version.value),
            "the only known version is 1; write `version: 1`",
        );
    }
    let project_ok = raw.project.as_ref().is_none_or(|project| project.value > 0);
    if let Some(project) = raw.project.as_ref().filter(|_| !project_ok) {
        findings.push(
            Rule::Schema,
            project.place,
            "the project id must be a positive integer",
            "copy the project id from the LCS project URL",
        );
    }
    let name = resolve_name(&raw.name, findings);
    let environment = resolve_environment(&raw.environment, catalog, findings);
    let source = match &raw.source {
        None => Some(None),
        Some(source) => resolve_environment(source, catalog, findings).map(Some),
    };
    let lead_time = match &raw.lead_time {
        None => Some(MINIMUM_LEAD_TIME),
        Some(text) => parse_or_report(text, parse_duration, DURATION_HELP, findings),
    };
    let window = resolve_window(&raw.window, findings);
    let window = window.filter(|window| submission_in_range(raw, window, lead_time, findings));
    let point_in_time = match &raw.point_in_time {
        None => Some(PointInTime::Latest),
        Some(text) => parse_or_report(
            text,
            PointInTime::parse,
            "write `latest`, an RFC 3339 time with an offset, or a duration before the window \
             such as -6h",
            findings,
        ),
    };
    let sample = || {
        sample_tera_context(
            &raw.name.value,
            &raw.environment.value.name.value,
            raw.source
                .as_ref()
                .map(|source| source.value.name.value.as_str()),
        )
    };
    let power_platform = match &raw.power_platform {
        None => Some(PowerPlatformOptions::default()),
        Some(options) => PowerPlatformOptions::resolve(&options.value)
            .map_err(|(place, message, help)| {
                findings.push(Rule::Schema, place.or(options.place), message, help);
            })
            .ok(),
    };
    let mut templates = TemplateBuilder::new(&sample);
    let pre_steps = resolve_steps(
        raw.pre_steps.as_ref(),
        "pre_steps",
        &mut templates,
        findings,
    );
    let post_steps = resolve_steps(
        raw.post_steps.as_ref(),
        "post_steps",
        &mut templates,
        findings,
    );
    let notifications = resolve_notifications(raw, plan_dir, &mut templates, findings);
    Resolved {
        name,
        environment,
        source,
        window,
        lead_time,
        point_in_time,
        pre_steps,
        post_steps,
        notifications,
        templates: Some(templates.finish()),
        version_ok,
        project_ok,
        power_platform,
    }
}

impl Resolved {
    /// Builds the checked plan when every part resolved.
    #[must_use]
    pub fn into_plan(self, file: &str, raw: &RawPlan) -> Option<Plan> {
        if !(self.version_ok && self.project_ok) {
            return None;
        }
        Some(Plan {
            file: file.to_owned(),
            name: self.name?,
            description: raw.description.as_ref().map(|text| text.value.clone()),
            service: raw.service.as_ref().map(|service| service.value),
            project: raw.project.as_ref().map(|project| project.value),
            environment: self.environment?,
            source: self.source?,
            database: raw
                .database
                .as_ref()
                .map_or(Database::FinanceOperations, |database| database.value),
            point_in_time: self.point_in_time?,
            window: self.window?,
            lead_time: self.lead_time?,
            pre_steps: self.pre_steps?,
            post_steps: self.post_steps?,
            notifications: self.notifications?,
            templates: self.templates?,
            power_platform: self.power_platform?,
        })
    }
}

fn parse_or_report<T>(
    text: &Located<String>,
    parse: impl Fn(&str) -> Result<T, String>,
    help: &str,
    findings: &mut Findings,
) -> Option<T> {
    parse(&text.value)
        .map_err(|message| findings.push(Rule::Schema, text.place, message, help))
        .ok()
}

pub(super) fn resolve_name(name: &Located<String>, findings: &mut Findings) -> Option<String> {
    let text = &name.value;
    let valid_start = text
        .bytes()
        .next()
        .is_some_and(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit());
    let valid_rest = text
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if valid_start && valid_rest && text.len() <= 63 {
        return Some(text.clone());
    }
    let problem = if text.len() > 63 {
        format!(
            "the plan name is {} characters long; at most 63 are allowed",
            text.len()
        )
    } else {
        format!("`{text}` is not a valid plan name")
    };
    findings.push(
        Rule::Schema,
        name.place,
        problem,
        "use lowercase letters, digits and dashes, starting with a letter or digit, such as \
         `contoso-uat-weekly`",
    );
    None
}

fn non_empty(text: &Located<String>, what: &str, findings: &mut Findings) -> Option<String> {
    if text.value.trim().is_empty() {
        findings.push(
            Rule::Schema,
            text.place,
            format!("{what} is empty"),
            format!("give {what}"),
        );
        None
    } else {
        Some(text.value.trim().to_owned())
    }
}

fn resolve_environment(
    raw: &Located<RawEnvironment>,
    catalog: &Catalog,
    findings: &mut Findings,
) -> Option<Environment> {
    let raw = &raw.value;
    let name = non_empty(&raw.name, "the environment name", findings);
    let id = match &raw.id {
        None => Some(None),
        Some(id) if id.value.trim().is_empty() || id.value.trim().contains(char::is_whitespace) => {
            findings.push(
                Rule::Schema,
                id.place,
                format!("`{}` is not an environment id", id.value),
                "copy the environment id from LCS, or leave `id` out to look it up by name",
            );
            None
        }
        Some(id) => Some(Some(id.value.trim().to_owned())),
    };
    let mut hotfixes = Some(Vec::new());
    for kb in raw.hotfixes.iter().flat_map(|list| &list.value) {
        match (normalize_kb(&kb.value), hotfixes.as_mut()) {
            (Some(kb), Some(list)) => list.push(kb),
            (Some(_), None) => {}
            (None, _) => {
                findings.push(
                    Rule::Schema,
                    kb.place,
                    format!("`{}` is not a KB number", kb.value),
                    "write hotfixes as KB numbers, such as KB4035399",
                );
                hotfixes = None;
            }
        }
    }
    let release = raw.release.as_ref().map(|release| Release {
        text: release.value.trim().to_owned(),
        known: catalog.lookup(&release.value),
    });
    Some(Environment {
        name: name?,
        id: id?,
        kind: raw.kind.as_ref().map(|kind| kind.value),
        release,
        hotfixes: hotfixes?,
        channel_database: raw.channel_database.as_ref().map(|text| text.value.clone()),
        channel_data_group: raw
            .channel_data_group
            .as_ref()
            .map(|text| text.value.clone()),
    })
}

fn resolve_window(raw: &Located<RawWindow>, findings: &mut Findings) -> Option<Window> {
    let window = &raw.value;
    let duration = window.duration.as_ref().and_then(|text| {
        let duration = parse_or_report(text, parse_duration, DURATION_HELP, findings)?;
        if duration <= TimeDelta::zero() {
            findings.push(
                Rule::Schema,
                text.place,
                "the window duration must be positive",
                DURATION_HELP,
            );
            return None;
        }
        Some(duration)
    });
    let zone = match &window.timezone {
        None => ZoneChoice::Unset,
        Some(text) => parse_or_report(
            text,
            parse_zone,
            "use an IANA zone such as Europe/Amsterdam or UTC",
            findings,
        )
        .map_or(ZoneChoice::Invalid, ZoneChoice::Named),
    };
    match (&window.start, &window.cron) {
        (Some(_), Some(cron)) => {
            findings.push(
                Rule::Schema,
                cron.place,
                "the window has both `start` and `cron`",
                "a window is either fixed (`start`) or recurring (`cron`); remove one",
            );
            None
        }
        (None, None) => {
            findings.push(
                Rule::Schema,
                raw.place,
                "the window has neither `start` nor `cron`",
                "add `start:` (a fixed window) or `cron:` (a recurring one)",
            );
            None
        }
        (Some(start), None) => resolve_fixed(raw, start, duration, zone, findings),
        (None, Some(cron)) => resolve_recurring(raw, cron, duration, zone, findings),
    }
}

/// Whether a fixed window can be submitted `lead_time` before it starts without that time
/// falling before 1970 (a recurring window's occurrences are expanded from now, so theirs can).
fn submission_in_range(
    raw: &RawPlan,
    window: &Window,
    lead_time: Option<TimeDelta>,
    findings: &mut Findings,
) -> bool {
    let (Window::Fixed { occurrence, .. }, Some(lead_time)) = (window, lead_time) else {
        return true;
    };
    if sub_in_range(occurrence.start, lead_time).is_some() {
        return true;
    }
    let place = raw.lead_time.as_ref().and_then(|text| text.place).or(raw
        .window
        .value
        .start
        .as_ref()
        .and_then(|start| start.place));
    findings.push(
        Rule::Schema,
        place,
        out_of_range("the submission time (window start minus lead time)"),
        "a window is submitted `lead_time` before it starts; give a later start or a shorter lead time",
    );
    false
}

/// The `timezone` of a window: not given, given but invalid (already reported), or a zone.
#[derive(Clone, Copy)]
enum ZoneChoice {
    Unset,
    Invalid,
    Named(chrono_tz::Tz),
}

fn resolve_fixed(
    raw: &Located<RawWindow>,
    start: &Located<String>,
    duration: Option<TimeDelta>,
    zone: ZoneChoice,
    findings: &mut Findings,
) -> Option<Window> {
    let window = &raw.value;
    let start_time = parse_or_report(start, parse_time, TIME_HELP, findings);
    let end = match (&window.duration, &window.end) {
        (Some(_), Some(end)) => {
            findings.push(
                Rule::Schema,
                end.place,
                "the window has both `duration` and `end`",
                "give exactly one of `duration` and `end`",
            );
            None
        }
        (None, None) => {
            findings.push(
                Rule::Schema,
                raw.place,
                "the window has neither `duration` nor `end`",
                "add `duration:` (such as 3h) or `end:`",
            );
            None
        }
        (Some(_), None) => start_time.zip(duration).and_then(|(start, duration)| {
            let end = start
                .checked_add_signed(duration)
                .filter(|end| in_range(end.with_timezone(&Utc)));
            if end.is_none() {
                findings.push(
                    Rule::Schema,
                    window.duration.as_ref().and_then(|text| text.place),
                    out_of_range("the window end (start plus duration)"),
                    "give a window that ends by 9999-12-31; durations are hours or days",
                );
            }
            end
        }),
        (None, Some(end)) => parse_or_report(end, parse_time, TIME_HELP, findings),
    };
    let (start_time, end) = (start_time?, end?);
    if end <= start_time {
        findings.push(
            Rule::Schema,
            window.end.as_ref().and_then(|end| end.place).or(raw.place),
            "the window ends before it starts",
            "`end` must be after `start`",
        );
        return None;
    }
    if end - start_time > MAX_DURATION {
        findings.push(
            Rule::Schema,
            window.end.as_ref().and_then(|end| end.place).or(raw.place),
            "the window is out of range: it may last at most 100 years",
            "`end` must be within 100 years of `start`",
        );
        return None;
    }
    let zone = match zone {
        ZoneChoice::Unset => Zone::Offset(*start_time.offset()),
        ZoneChoice::Invalid => return None,
        ZoneChoice::Named(zone) => Zone::Named(zone),
    };
    Some(Window::Fixed {
        occurrence: Occurrence {
            start: start_time.with_timezone(&Utc),
            end: end.with_timezone(&Utc),
        },
        zone,
    })
}

fn resolve_recurring(
    raw: &Located<RawWindow>,
    cron_text: &Located<String>,
    duration: Option<TimeDelta>,
    zone: ZoneChoice,
    findings: &mut Findings,
) -> Option<Window> {
    let window = &raw.value;
    let cron = parse_or_report(
        cron_text,
        parse_cron,
        "write 5 fields: minute hour day-of-month month day-of-week, such as \"0 22 * * SAT\"",
        findings,
    );
    if let Some(end) = &window.end {
        findings.push(
            Rule::Schema,
            end.place,
            "a recurring window cannot have a fixed `end`",
            "give the length of each window as `duration:`",
        );
        return None;
    }
    if window.duration.is_none() {
        findings.push(
            Rule::Schema,
            raw.place,
            "a recurring window needs a `duration`",
            "add `duration:` (such as 3h)",
        );
        return None;
    }
    let window = Window::Recurring {
        cron: Some(cron?),
        pattern: cron_text.value.trim().to_owned(),
        zone: match zone {
            ZoneChoice::Unset => chrono_tz::UTC,
            ZoneChoice::Invalid => return None,
            ZoneChoice::Named(zone) => zone,
        },
        duration: duration?,
    };
    if window
        .occurrences_from(chrono::DateTime::<Utc>::UNIX_EPOCH)
        .next()
        .is_none()
    {
        findings.push(
            Rule::Schema,
            cron_text.place,
            format!("`{}` never matches a date", cron_text.value),
            "check the day of month and month fields",
        );
        return None;
    }
    Some(window)
}

/// The kinds a pre step may have: what runs before the refresh survives it only if it leaves
/// nothing in the target (a copy of its database, an operator's work elsewhere).
const PRE_STEP_KINDS: [StepKind; 2] = [StepKind::Export, StepKind::Manual];

fn resolve_steps(
    list: Option<&Located<Vec<Located<RawStep>>>>,
    key: &str,
    templates: &mut TemplateBuilder<'_>,
    findings: &mut Findings,
) -> Option<Vec<PostStep>> {
    let Some(list) = list else {
        return Some(Vec::new());
    };
    let mut steps = Some(Vec::with_capacity(list.value.len()));
    for (index, step) in list.value.iter().enumerate() {
        let kind = step.value.kind();
        if key == "pre_steps" && !PRE_STEP_KINDS.contains(&kind) {
            findings.push(
                Rule::Schema,
                step.place,
                format!("a `{kind}` step cannot run before the refresh"),
                "the refresh erases the target's database, and with it what this step would do; \
                 `pre_steps` takes `export` and `manual` steps: move it to `post_steps`",
            );
            steps = None;
            continue;
        }
        let resolved = if let RawStep::Export(options) = &step.value {
            resolve_export(key, index, options, templates, findings)
        } else {
            resolve_step(index, step, templates, findings)
        };
        match (resolved, steps.as_mut()) {
            (Some(step), Some(list)) => list.push(step),
            (None, _) => steps = None,
            (Some(_), None) => {}
        }
    }
    steps
}

fn resolve_step(
    index: usize,
    step: &Located<RawStep>,
    templates: &mut TemplateBuilder<'_>,
    findings: &mut Findings,
) -> Option<PostStep> {
    match &step.value {
        RawStep::Reprovision(options) => {
            let package = match &options.package {
                None => Some(DEFAULT_REPROVISION_PACKAGE.to_owned()),
                Some(package) => non_empty(package, "the package name", findings),
            };
            let file = match &options.file {
                None => Some(None),
                Some(file) => non_empty(file, "the file path", findings).map(Some),
            };
            Some(PostStep::Reprovision {
                package: package?,
                file: file?,
            })
        }
        RawStep::ResetFinancialReporting => Some(PostStep::ResetFinancialReporting),
        RawStep::Deploy(options) => resolve_deploy(step, options, findings),
        RawStep::Command(options) => resolve_command(index, options, templates, findings),
        RawStep::Manual(options) => {
            let instructions = non_empty(&options.instructions, "the instructions", findings);
            let timeout = resolve_manual_timeout(options, findings);
            Some(PostStep::Manual {
                instructions: instructions?,
                timeout: timeout.ok()?,
            })
        }
        RawStep::Export(_) => unreachable!("exports are resolved by resolve_export"),
    }
}

/// `timeout`, `on_timeout` and `remind_every` of a manual step (`Ok(None)`: no timeout; `Err`:
/// a problem, already reported).
fn resolve_manual_timeout(
    options: &RawManual,
    findings: &mut Findings,
) -> Result<Option<ManualTimeout>, ()> {
    let at_least = |text: &Located<String>, least: TimeDelta, findings: &mut Findings| {
        parse_or_report(text, parse_duration, DURATION_HELP, findings).filter(|duration| {
            let long_enough = *duration >= least;
            if !long_enough {
                findings.push(
                    Rule::Schema,
                    text.place,
                    format!(
                        "`{}` is shorter than {}",
                        text.value.trim(),
                        format_duration(least)
                    ),
                    format!("give at least {} (such as 4h)", format_duration(least)),
                );
            }
            long_enough
        })
    };
    let Some(timeout) = &options.timeout else {
        for (key, place) in [
            (
                "on_timeout",
                options.on_timeout.as_ref().map(|word| word.place),
            ),
            (
                "remind_every",
                options.remind_every.as_ref().map(|text| text.place),
            ),
        ] {
            if let Some(place) = place {
                findings.push(
                    Rule::Schema,
                    place,
                    format!("`{key}` needs a `timeout` on the same step"),
                    "add `timeout:` (such as 2d), or remove the key",
                );
                return Err(());
            }
        }
        return Ok(None);
    };
    let after = at_least(timeout, ManualTimeout::SHORTEST, findings).ok_or(());
    let on_timeout = options
        .on_timeout
        .as_ref()
        .map_or(OnTimeout::Fail, |word| word.value);
    match (on_timeout, &options.remind_every) {
        (OnTimeout::Fail, None) => Ok(Some(ManualTimeout::Fail { after: after? })),
        (OnTimeout::Fail, Some(every)) => {
            findings.push(
                Rule::Schema,
                every.place,
                "`remind_every` is for `on_timeout: remind`; with `fail` the run ends at the timeout",
                "write `on_timeout: remind`, or remove `remind_every`",
            );
            Err(())
        }
        (OnTimeout::Remind, None) => {
            let after = after?;
            Ok(Some(ManualTimeout::Remind {
                after,
                every: after.max(ManualTimeout::SHORTEST_REMINDER),
            }))
        }
        (OnTimeout::Remind, Some(every)) => {
            let every = at_least(every, ManualTimeout::SHORTEST_REMINDER, findings).ok_or(());
            Ok(Some(ManualTimeout::Remind {
                after: after?,
                every: every?,
            }))
        }
    }
}

/// An export step: its backup name is a template, compiled now and rendered with the sample
/// context, so a name LCS could not take is a validation error, not a failure at 3 a.m.
fn resolve_export(
    key: &str,
    index: usize,
    options: &RawExport,
    templates: &mut TemplateBuilder<'_>,
    findings: &mut Findings,
) -> Option<PostStep> {
    let Some(name) = &options.name else {
        return Some(PostStep::Export {
            written: None,
            template: None,
        });
    };
    let template = format!("{key}[{index}].export.name");
    if let Err(message) = templates.add(&template, &name.value) {
        findings.push(
            Rule::Schema,
            name.place,
            format!("template error: {message}"),
            "the backup name is a tera template; the variables are plan, environment, source, window, point_in_time, run and step",
        );
        return None;
    }
    if let Err(message) = templates
        .render_sample(&template)
        .and_then(|rendered| check_backup_name(rendered.trim()))
    {
        findings.push(
            Rule::Schema,
            name.place,
            message,
            "LCS takes the backup name in the request's path and adds `.bacpac`: write letters, \
             digits, `-`, `_` and `.`, such as `{{ environment.name }}-before-refresh`",
        );
        return None;
    }
    Some(PostStep::Export {
        written: Some(name.value.clone()),
        template: Some(template),
    })
}

fn resolve_notifications(
    raw: &RawPlan,
    plan_dir: &Path,
    templates: &mut TemplateBuilder<'_>,
    findings: &mut Findings,
) -> Option<Vec<Notification>> {
    let Some(list) = &raw.notifications else {
        return Some(Vec::new());
    };
    let mut notifications = Some(Vec::new());
    for (index, notification) in list.value.iter().enumerate() {
        let notification = &notification.value;
        let url = check_url(&notification.url, findings);
        let template = match &notification.template {
            None => Some(None),
            Some(path) => {
                let name = format!("notifications[{index}].template");
                load_template(path, plan_dir, &name, templates, findings).map(|()| Some(name))
            }
        };
        let events = notification.on.as_ref().map_or_else(
            || NotificationEvent::ALL.to_vec(),
            |on| on.value.iter().map(|event| event.value).collect(),
        );
        match (url, template, notifications.as_mut()) {
            (Some(url), Some(template), Some(list)) => list.push(Notification {
                url,
                events,
                template,
            }),
            (Some(_), Some(_), None) => {}
            _ => notifications = None,
        }
    }
    notifications
}

fn check_url(url: &Located<String>, findings: &mut Findings) -> Option<String> {
    let text = url.value.trim();
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    let host = rest.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(host) if !host.is_empty() && !text.contains(char::is_whitespace) => {
            Some(text.to_owned())
        }
        _ => {
            findings.push(
                Rule::Schema,
                url.place,
                format!("`{text}` is not an http or https URL"),
                "write the full URL of the web hook, such as https://hooks.example.com/refresh",
            );
            None
        }
    }
}

fn load_template(
    path: &Located<String>,
    plan_dir: &Path,
    name: &str,
    templates: &mut TemplateBuilder<'_>,
    findings: &mut Findings,
) -> Option<()> {
    let full = plan_dir.join(&path.value);
    let source = match read_text_capped(&full, MAX_TEMPLATE_BYTES, "template") {
        Ok(source) => source,
        Err(error) => {
            findings.push(
                Rule::Schema,
                path.place,
                format!("cannot read template `{}`: {}", path.value, error.reason()),
                "template paths are relative to the plan file",
            );
            return None;
        }
    };
    templates
        .add(name, &source)
        .map_err(|message| {
            findings.push(
                Rule::Schema,
                path.place,
                format!("template `{}` does not compile: {message}", path.value),
                "the variables are plan, environment, source, window, point_in_time, run, step and event",
            );
        })
        .ok()
}

fn resolve_deploy(
    step: &Located<RawStep>,
    options: &RawDeploy,
    findings: &mut Findings,
) -> Option<PostStep> {
    let package = match (&options.file, &options.asset) {
        (Some(file), None) => non_empty(file, "the file path", findings).map(PackageSource::File),
        (None, Some(asset)) => non_empty(asset, "the asset id", findings).map(PackageSource::Asset),
        (Some(_), Some(asset)) => {
            findings.push(
                Rule::Schema,
                asset.place,
                "a deploy step has both `file` and `asset`",
                "give `file` to upload a package, or `asset` to apply one already in the asset library",
            );
            None
        }
        (None, None) => {
            findings.push(
                Rule::Schema,
                step.place,
                "a deploy step needs `file` or `asset`",
                "give `file` to upload a package, or `asset` to apply one already in the asset library",
            );
            None
        }
    }?;
    let update_name = match &options.name {
        Some(name) => non_empty(name, "the update name", findings)?,
        None => match &package {
            PackageSource::File(file) => Path::new(file)
                .file_stem()
                .map_or_else(|| file.clone(), |stem| stem.to_string_lossy().into_owned()),
            PackageSource::Asset(asset) => format!("asset {asset}"),
        },
    };
    Some(PostStep::Deploy {
        package,
        update_name,
    })
}

fn resolve_command(
    index: usize,
    options: &RawCommand,
    templates: &mut TemplateBuilder<'_>,
    findings: &mut Findings,
) -> Option<PostStep> {
    if options.run.value.is_empty() {
        findings.push(
            Rule::Schema,
            options.run.place,
            "`run` is empty",
            "give the program and its arguments, such as [\"./scripts/anonymize.sh\", \"{{ environment.name }}\"]",
        );
        return None;
    }
    let mut ok = true;
    for (position, argument) in options.run.value.iter().enumerate() {
        let name = format!("post_steps[{index}].run[{position}]");
        if let Err(message) = templates.add(&name, &argument.value) {
            findings.push(
                Rule::Schema,
                argument.place,
                format!("template error: {message}"),
                "arguments are tera templates; the variables are plan, environment, source, window, point_in_time, run and step",
            );
            ok = false;
        }
    }
    let timeout = match &options.timeout {
        None => Some(DEFAULT_COMMAND_TIMEOUT),
        Some(text) => {
            parse_or_report(text, parse_duration, DURATION_HELP, findings).filter(|timeout| {
                let positive = *timeout > TimeDelta::zero();
                if !positive {
                    findings.push(
                        Rule::Schema,
                        text.place,
                        "the timeout must be positive",
                        DURATION_HELP,
                    );
                }
                positive
            })
        }
    };
    (ok && timeout.is_some()).then(|| PostStep::Command {
        run: options
            .run
            .value
            .iter()
            .map(|argument| argument.value.clone())
            .collect(),
        timeout: timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
    })
}
