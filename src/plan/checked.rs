//! The checked plan: built only from a raw plan whose every part resolved, with private fields,
//! and not deserializable. The executor accepts nothing else.

use chrono::{DateTime, TimeDelta, Utc};

use super::point_in_time::PointInTime;
use super::step::PostStep;
use super::templates::Templates;
use super::vocabulary::{Database, EnvironmentType, NotificationEvent, Service};
use super::window::{Occurrence, Window};
use crate::rules::catalog::KnownRelease;

/// A release as the plan spelled it, and what the catalog made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub text: String,
    pub known: Option<KnownRelease>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub(super) name: String,
    pub(super) id: Option<String>,
    pub(super) kind: Option<EnvironmentType>,
    pub(super) release: Option<Release>,
    pub(super) hotfixes: Vec<String>,
    pub(super) channel_database: Option<String>,
    pub(super) channel_data_group: Option<String>,
}

impl Environment {
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    #[must_use]
    pub fn kind(&self) -> Option<EnvironmentType> {
        self.kind
    }
    #[must_use]
    pub fn release(&self) -> Option<&Release> {
        self.release.as_ref()
    }
    #[must_use]
    pub fn hotfixes(&self) -> &[String] {
        &self.hotfixes
    }
    #[must_use]
    pub fn channel_database(&self) -> Option<&str> {
        self.channel_database.as_deref()
    }
    #[must_use]
    pub fn channel_data_group(&self) -> Option<&str> {
        self.channel_data_group.as_deref()
    }

    /// Whether two descriptions name the same environment (same name, or same id).
    #[must_use]
    pub fn same_as(&self, other: &Self) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            || matches!((&self.id, &other.id), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub(super) url: String,
    pub(super) events: Vec<NotificationEvent>,
    /// The name of the body template in the plan's [`Templates`], if the plan gave one.
    pub(super) template: Option<String>,
}

impl Notification {
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
    #[must_use]
    pub fn events(&self) -> &[NotificationEvent] {
        &self.events
    }
    #[must_use]
    pub fn template(&self) -> Option<&str> {
        self.template.as_deref()
    }
}

/// Whether a run copies another environment or restores the target's own database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Refresh,
    PointInTimeRestore,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub(super) file: String,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) service: Option<Service>,
    /// Absent in a plan for the Power Platform (it has no LCS project).
    pub(super) project: Option<u64>,
    pub(super) environment: Environment,
    pub(super) source: Option<Environment>,
    pub(super) database: Database,
    pub(super) point_in_time: PointInTime,
    pub(super) window: Window,
    pub(super) lead_time: TimeDelta,
    pub(super) pre_steps: Vec<PostStep>,
    pub(super) post_steps: Vec<PostStep>,
    pub(super) notifications: Vec<Notification>,
    pub(super) templates: Templates,
    pub(super) power_platform: super::PowerPlatformOptions,
}

impl Plan {
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The service the plan is meant for (`service:`), if it says.
    #[must_use]
    pub fn service(&self) -> Option<Service> {
        self.service
    }
    #[must_use]
    /// The LCS project id; 0 when the plan has none (a Power Platform plan, where adapters
    /// ignore it).
    pub fn project(&self) -> u64 {
        self.project.unwrap_or_default()
    }
    /// Whether the plan names an LCS project.
    #[must_use]
    pub fn has_project(&self) -> bool {
        self.project.is_some()
    }
    /// The options of a Power Platform copy or restore.
    #[must_use]
    pub fn power_platform(&self) -> &super::PowerPlatformOptions {
        &self.power_platform
    }
    #[must_use]
    pub fn environment(&self) -> &Environment {
        &self.environment
    }
    #[must_use]
    pub fn source(&self) -> Option<&Environment> {
        self.source.as_ref()
    }
    #[must_use]
    pub fn database(&self) -> Database {
        self.database
    }
    #[must_use]
    pub fn point_in_time(&self) -> PointInTime {
        self.point_in_time
    }
    #[must_use]
    pub fn window(&self) -> &Window {
        &self.window
    }
    #[must_use]
    pub fn lead_time(&self) -> TimeDelta {
        self.lead_time
    }
    /// Steps run before the refresh (after the window opened).
    #[must_use]
    pub fn pre_steps(&self) -> &[PostStep] {
        &self.pre_steps
    }
    #[must_use]
    pub fn post_steps(&self) -> &[PostStep] {
        &self.post_steps
    }
    #[must_use]
    pub fn notifications(&self) -> &[Notification] {
        &self.notifications
    }
    #[must_use]
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    #[must_use]
    pub fn operation(&self) -> Operation {
        if self.source.is_some() {
            Operation::Refresh
        } else {
            Operation::PointInTimeRestore
        }
    }

    /// The plan without its window's parsed cron expression (see
    /// [`Window::without_parsed_cron`]): what `tick` and `daemon` keep of thousands of plans.
    #[must_use]
    pub fn without_parsed_cron(mut self) -> Self {
        self.window = self.window.without_parsed_cron();
        self
    }

    /// The window a request made at `now` would be for: a fixed window itself; for a recurring
    /// window, the first occurrence that starts at least `lead_time` after `now`, so it can still
    /// be submitted on time.
    #[must_use]
    pub fn next_window(&self, now: DateTime<Utc>) -> Option<Occurrence> {
        match &self.window {
            Window::Fixed { occurrence, .. } => Some(*occurrence),
            Window::Recurring { .. } => self
                .window
                .occurrences_from(now.checked_add_signed(self.lead_time)?)
                .next(),
        }
    }
}
