//! The shape of a plan checked on the YAML tree itself, so that every shape problem of a file is
//! reported in one pass (SPEC 3, 11).
//!
//! serde stops at the first problem. When it does and the file is well-formed YAML, `load` reads
//! the file again as a plain tree ([`Node`], every node with its place) and [`check`] walks it
//! against the shape of SPEC 2: the same keys, types and words as `plan::raw`. Each unknown key,
//! wrong type, missing key and unknown word is reported at its own place, and so is every value
//! that means something on its own (a duration, a time, the point in time, a zone, the name),
//! with the messages `resolve` gives. Files of the right shape never come here, so validating
//! good plans costs nothing extra. A test keeps this walk and `plan::raw` in step: every plan
//! that loads passes it, and on every broken one it reports serde's problem at serde's place.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::load::did_you_mean;
use super::located::{Located, Place};
use super::point_in_time::PointInTime;
use super::time::{DURATION_HELP, TIME_HELP, parse_duration, parse_time};
use super::vocabulary::StepKind;
use super::window::parse_zone;
use crate::rules::{Findings, Rule};

/// A YAML node as written, without any meaning yet.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Integer(i128),
    Float(f64),
    Text(String),
    List(Vec<Located<Node>>),
    Map(Vec<(Located<Node>, Located<Node>)>),
}

impl Node {
    /// The node in the words of a message: "a list", "the text `abc`".
    fn described(&self) -> String {
        match self {
            Self::Null => "nothing".into(),
            Self::Bool(value) => format!("`{value}`"),
            Self::Integer(value) => format!("the number {value}"),
            Self::Float(value) => format!("the number {value}"),
            Self::Text(text) => {
                let shown: String = text.chars().take(40).collect();
                let more = if shown.len() < text.len() { "…" } else { "" };
                format!("the text `{shown}{more}`")
            }
            Self::List(_) => "a list".into(),
            Self::Map(_) => "a map".into(),
        }
    }

    /// The text of a scalar as a word or key (`None` for null, lists and maps).
    fn scalar_text(&self) -> Option<String> {
        match self {
            Self::Bool(value) => Some(value.to_string()),
            Self::Integer(value) => Some(value.to_string()),
            Self::Float(value) => Some(value.to_string()),
            Self::Text(text) => Some(text.clone()),
            Self::Null | Self::List(_) | Self::Map(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Integer(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Node, E> {
        Ok(Node::Integer(value.into()))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<Node, E> {
        Ok(Node::Integer(value))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<Node, E> {
        Ok(i128::try_from(value).map_or(Node::Float(f64::MAX), Node::Integer))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Float(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Node, E> {
        Ok(Node::Text(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Node, E> {
        Ok(Node::Text(value))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<Node, E> {
        Ok(Node::Text(String::from_utf8_lossy(value).into_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Located<Node>>()? {
            items.push(item);
        }
        Ok(Node::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Located<Key>>()? {
            let value = map.next_value::<Located<Node>>()?;
            entries.push((Located::new(key.value.0, key.place), value));
        }
        Ok(Node::Map(entries))
    }
}

/// A map key read as the raw types read theirs: as written (`on` is the key `on`, not YAML 1.1's
/// `true`).
struct Key(Node);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Key, E> {
        Ok(Key(Node::Text(value.to_owned())))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Key, E> {
        Ok(Key(Node::Text(value.to_string())))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Key, E> {
        Ok(Key(Node::Text(value.to_string())))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Key, E> {
        Ok(Key(Node::Text(value.to_string())))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<Key, E> {
        Ok(Key(Node::Text(String::from_utf8_lossy(value).into_owned())))
    }
}

/// What a place in a plan holds.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Any scalar but null (YAML reads `10.0` and `true` as text where text is expected).
    Text,
    /// The plan's name: text, and a valid name.
    Name,
    /// `version`: a whole number, and 1.
    Version,
    /// `project`: a whole number, and positive.
    ProjectId,
    /// One of a closed set of words; the second item names the set in messages.
    Word(&'static [&'static str], &'static str),
    Duration,
    Time,
    PointInTime,
    Zone,
    /// A list of items of one shape; the second item names the items in messages.
    List(&'static Shape, &'static str),
    /// A map with these keys; the second item names the map in messages.
    Map(&'static [Field], &'static str),
    /// A post step: a kind alone, or a map with one key, the kind.
    Step,
}

impl Shape {
    /// What is expected here, in the plan's terms.
    fn expected(self) -> String {
        match self {
            Self::Text => "text".into(),
            Self::Name => "a plan name such as `contoso-uat-weekly`".into(),
            Self::Version => "the format version (1)".into(),
            Self::ProjectId => "a positive integer (the LCS project id)".into(),
            Self::Word(words, what) => format!("{what} ({})", listed(words)),
            Self::Duration => "a duration such as 90m".into(),
            Self::Time => {
                "an RFC 3339 time with an offset, such as 2026-12-05T22:00:00+01:00".into()
            }
            Self::PointInTime => "`latest`, an RFC 3339 time or a duration such as -6h".into(),
            Self::Zone => "an IANA time zone such as Europe/Amsterdam".into(),
            Self::List(_, what) => format!("a list of {what}"),
            Self::Map(_, what) => format!("{what} (a map)"),
            Self::Step => "a step: a step kind, or a map with one key, the step kind".into(),
        }
    }

    /// What to do about a value of the wrong type here.
    fn help(self) -> String {
        match self {
            Self::Text | Self::Name => {
                "write the value as text on one line; quote it if it starts with `[` or `{`".into()
            }
            Self::Version => "the only known version is 1; write `version: 1`".into(),
            Self::ProjectId => "copy the project id from the LCS project URL".into(),
            Self::Word(words, _) => format!("write one of {}", listed(words)),
            Self::Duration => DURATION_HELP.into(),
            Self::Time => TIME_HELP.into(),
            Self::PointInTime => POINT_IN_TIME_HELP.into(),
            Self::Zone => ZONE_HELP.into(),
            Self::List(..) => "write a list: one `- item` a line, or `[a, b]`".into(),
            Self::Map(fields, _) => format!(
                "write the keys indented under it, one `key: value` a line; keys here: {}",
                listed(&field_names(fields))
            ),
            Self::Step => format!(
                "write `- reprovision`, or a map such as `- deploy: {{file: package.zip}}`; step \
                 kinds: {}",
                listed(&StepKind::NAMES)
            ),
        }
    }
}

/// A key of a map, its shape and whether it must be there.
#[derive(Debug, Clone, Copy)]
struct Field {
    key: &'static str,
    shape: Shape,
    required: bool,
}

const fn required(key: &'static str, shape: Shape) -> Field {
    Field {
        key,
        shape,
        required: true,
    }
}

const fn optional(key: &'static str, shape: Shape) -> Field {
    Field {
        key,
        shape,
        required: false,
    }
}

const POINT_IN_TIME_HELP: &str = "write `latest`, an RFC 3339 time with an offset, or a duration \
                                  before the window such as -6h";
const ZONE_HELP: &str = "use an IANA zone such as Europe/Amsterdam or UTC";

const ENVIRONMENT_TYPES: &[&str] = &["production", "sandbox", "development", "build"];
const DATABASES: &[&str] = &["finance-operations", "entity-store", "financial-reporting"];
const ACKNOWLEDGEMENTS: &[&str] = &["target-database-erased", "target-unavailable"];
const NOTIFICATION_EVENTS: &[&str] = &[
    "submitted",
    "accepted",
    "rejected",
    "started",
    "awaiting-approval",
    "needs-attention",
    "succeeded",
    "failed",
    "canceled",
    "skipped",
    "delayed",
    "rescheduled",
];

const ENVIRONMENT: &[Field] = &[
    required("name", Shape::Text),
    optional("id", Shape::Text),
    optional(
        "type",
        Shape::Word(ENVIRONMENT_TYPES, "an environment type"),
    ),
    optional("release", Shape::Text),
    optional("hotfixes", Shape::List(&Shape::Text, "KB numbers")),
    optional("channel_database", Shape::Text),
    optional("channel_data_group", Shape::Text),
];

const WINDOW: &[Field] = &[
    optional("start", Shape::Time),
    optional("duration", Shape::Duration),
    optional("end", Shape::Time),
    optional("cron", Shape::Text),
    optional("timezone", Shape::Zone),
];

const NOTIFICATION: &[Field] = &[
    required("url", Shape::Text),
    optional(
        "on",
        Shape::List(
            &Shape::Word(NOTIFICATION_EVENTS, "a notification event"),
            "notification events",
        ),
    ),
    optional("template", Shape::Text),
];

const PLAN: &[Field] = &[
    required("version", Shape::Version),
    required("name", Shape::Name),
    optional("description", Shape::Text),
    optional(
        "service",
        Shape::Word(&["lcs", "power-platform"], "a service"),
    ),
    // Required for LCS, never for the Power Platform: the rules say which (`check_project`).
    optional("project", Shape::ProjectId),
    required(
        "environment",
        Shape::Map(ENVIRONMENT, "the target environment"),
    ),
    optional("source", Shape::Map(ENVIRONMENT, "the source environment")),
    optional("database", Shape::Word(DATABASES, "a database")),
    optional("point_in_time", Shape::PointInTime),
    required("window", Shape::Map(WINDOW, "the window")),
    optional("lead_time", Shape::Duration),
    required(
        "acknowledge",
        Shape::List(
            &Shape::Word(ACKNOWLEDGEMENTS, "a statement"),
            "statements the operator accepts",
        ),
    ),
    optional("pre_steps", Shape::List(&Shape::Step, "steps")),
    optional("post_steps", Shape::List(&Shape::Step, "steps")),
    optional(
        "notifications",
        Shape::List(&Shape::Map(NOTIFICATION, "a notification"), "notifications"),
    ),
    optional(
        "power_platform",
        Shape::Map(POWER_PLATFORM, "the Power Platform options"),
    ),
];

const REPROVISION: &[Field] = &[
    optional("package", Shape::Text),
    optional("file", Shape::Text),
];
const DEPLOY: &[Field] = &[
    optional("file", Shape::Text),
    optional("asset", Shape::Text),
    optional("name", Shape::Text),
];
const COMMAND: &[Field] = &[
    required("run", Shape::List(&Shape::Text, "arguments")),
    optional("timeout", Shape::Duration),
];
const MANUAL: &[Field] = &[
    required("instructions", Shape::Text),
    optional("timeout", Shape::Duration),
    optional(
        "on_timeout",
        Shape::Word(&["fail", "remind"], "what happens on timeout"),
    ),
    optional("remind_every", Shape::Duration),
];
const TRUE_OR_FALSE: Shape = Shape::Word(&["true", "false"], "true or false");
const POWER_PLATFORM: &[Field] = &[
    optional(
        "copy_type",
        Shape::Word(&["full", "minimal"], "a copy type"),
    ),
    optional("transaction_less", TRUE_OR_FALSE),
    optional("skip_audit_data", TRUE_OR_FALSE),
    optional("enable_after", TRUE_OR_FALSE),
];
const EXPORT: &[Field] = &[optional("name", Shape::Text)];

/// The shape of a step kind's options, and whether they may be left out.
fn step_options(kind: StepKind) -> (Shape, bool) {
    match kind {
        StepKind::Reprovision => (
            Shape::Map(REPROVISION, "the options of `reprovision`"),
            true,
        ),
        StepKind::ResetFinancialReporting => (
            Shape::Map(&[], "the options of `reset-financial-reporting`"),
            true,
        ),
        StepKind::Deploy => (Shape::Map(DEPLOY, "the options of `deploy`"), false),
        StepKind::Command => (Shape::Map(COMMAND, "the options of `command`"), false),
        StepKind::Manual => (Shape::Map(MANUAL, "the options of `manual`"), false),
        StepKind::Export => (Shape::Map(EXPORT, "the options of `export`"), true),
    }
}

fn field_names(fields: &[Field]) -> Vec<&'static str> {
    fields.iter().map(|field| field.key).collect()
}

fn listed(words: &[&str]) -> String {
    if words.is_empty() {
        return "none".into();
    }
    words
        .iter()
        .map(|word| format!("`{word}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Walks `root` against the shape of a plan and reports every problem into `findings`.
pub fn check(root: &Located<Node>, findings: &mut Findings) {
    let mut walk = Walk { findings };
    walk.value(root, Shape::Map(PLAN, "a plan"), None, None);
}

struct Walk<'a> {
    findings: &'a mut Findings,
}

impl Walk<'_> {
    fn push(&mut self, place: Option<Place>, message: String, help: impl Into<String>) {
        self.findings.push(Rule::Schema, place, message, help);
    }

    fn wrong_type(&mut self, node: &Located<Node>, shape: Shape, key: Option<&str>) {
        let whose = key.map_or_else(String::new, |key| format!(" for `{key}`"));
        self.push(
            node.place,
            format!(
                "expected {}{whose}, found {}",
                shape.expected(),
                node.value.described()
            ),
            shape.help(),
        );
    }

    /// Checks one value. `key` names it in messages; `key_place` is where its key is written
    /// (a missing key of a map is reported at the key of that map).
    fn value(
        &mut self,
        node: &Located<Node>,
        shape: Shape,
        key: Option<&str>,
        key_place: Option<Place>,
    ) {
        match shape {
            Shape::Text => {
                if node.value.scalar_text().is_none() {
                    self.wrong_type(node, shape, key);
                }
            }
            Shape::Name => match &node.value.scalar_text() {
                Some(text) => {
                    let name = Located::new(text.clone(), node.place);
                    super::resolve::resolve_name(&name, self.findings);
                }
                None => self.wrong_type(node, shape, key),
            },
            Shape::Version | Shape::ProjectId => self.number(node, shape, key),
            Shape::Word(words, what) => self.word(node, words, what, key),
            Shape::Duration => self.meaning(node, shape, key, parse_duration, DURATION_HELP),
            Shape::Time => self.meaning(node, shape, key, parse_time, TIME_HELP),
            Shape::PointInTime => {
                self.meaning(node, shape, key, PointInTime::parse, POINT_IN_TIME_HELP);
            }
            Shape::Zone => self.meaning(node, shape, key, parse_zone, ZONE_HELP),
            Shape::List(item, _) => match &node.value {
                Node::List(items) => {
                    for each in items {
                        self.value(each, *item, key, key_place);
                    }
                }
                _ => self.wrong_type(node, shape, key),
            },
            Shape::Map(fields, _) => match &node.value {
                Node::Map(entries) => self.map(node, entries, fields, key_place),
                _ => self.wrong_type(node, shape, key),
            },
            Shape::Step => self.step(node),
        }
    }

    fn number(&mut self, node: &Located<Node>, shape: Shape, key: Option<&str>) {
        let number = match &node.value {
            Node::Integer(number) => Some(*number),
            Node::Text(text) => text.trim().parse::<i128>().ok(),
            _ => None,
        };
        let limit = if matches!(shape, Shape::Version) {
            i128::from(u32::MAX)
        } else {
            i128::from(u64::MAX)
        };
        match number {
            Some(number) if (0..=limit).contains(&number) => match shape {
                Shape::Version if number != 1 => self.push(
                    node.place,
                    format!("unknown plan format version {number}"),
                    shape.help(),
                ),
                Shape::ProjectId if number == 0 => self.push(
                    node.place,
                    "the project id must be a positive integer".into(),
                    shape.help(),
                ),
                _ => {}
            },
            _ => self.wrong_type(node, shape, key),
        }
    }

    fn word(
        &mut self,
        node: &Located<Node>,
        words: &'static [&'static str],
        what: &'static str,
        key: Option<&str>,
    ) {
        match node.value.scalar_text() {
            Some(text) if words.contains(&text.as_str()) => {}
            Some(text) => self.push(
                node.place,
                format!("unknown value `{text}`"),
                did_you_mean(&text, words, "values"),
            ),
            None => self.wrong_type(node, Shape::Word(words, what), key),
        }
    }

    fn meaning<T>(
        &mut self,
        node: &Located<Node>,
        shape: Shape,
        key: Option<&str>,
        parse: impl Fn(&str) -> Result<T, String>,
        help: &str,
    ) {
        match node.value.scalar_text() {
            Some(text) => {
                if let Err(message) = parse(&text) {
                    self.push(node.place, message, help);
                }
            }
            None => self.wrong_type(node, shape, key),
        }
    }

    fn map(
        &mut self,
        node: &Located<Node>,
        entries: &[(Located<Node>, Located<Node>)],
        fields: &[Field],
        key_place: Option<Place>,
    ) {
        let known = field_names(fields);
        for (key, value) in entries {
            let name = key.value.scalar_text().unwrap_or_default();
            match fields.iter().find(|field| field.key == name) {
                Some(field) => {
                    if field.required || !matches!(value.value, Node::Null) {
                        self.value(value, field.shape, Some(field.key), key.place);
                    }
                }
                None => self.push(
                    key.place,
                    format!("unknown key `{name}`"),
                    did_you_mean(&name, &known, "keys"),
                ),
            }
        }
        for field in fields.iter().filter(|field| field.required) {
            let present = entries
                .iter()
                .any(|(key, _)| key.value.scalar_text().as_deref() == Some(field.key));
            if !present {
                self.push(
                    key_place.or(node.place),
                    format!("missing required key `{}`", field.key),
                    format!("add `{}:` to this map", field.key),
                );
            }
        }
    }

    fn step(&mut self, node: &Located<Node>) {
        let unknown = |name: &str| {
            (
                format!("unknown value `{name}`"),
                did_you_mean(name, &StepKind::NAMES, "values"),
            )
        };
        match &node.value {
            Node::Text(name) => match StepKind::from_name(name) {
                Some(StepKind::Reprovision | StepKind::ResetFinancialReporting) => {}
                Some(kind) => self.push(
                    node.place,
                    format!("step `{kind}` needs options; write it as a map: `- {kind}: {{...}}`"),
                    Shape::Step.help(),
                ),
                None => {
                    let (message, help) = unknown(name);
                    self.push(node.place, message, help);
                }
            },
            Node::Map(entries) => {
                let Some((key, options)) = entries.first() else {
                    self.push(
                        node.place,
                        "a step map needs exactly one key, the step kind".into(),
                        Shape::Step.help(),
                    );
                    return;
                };
                let name = key.value.scalar_text().unwrap_or_default();
                if let Some(kind) = StepKind::from_name(&name) {
                    let (shape, may_be_empty) = step_options(kind);
                    if !(may_be_empty && matches!(options.value, Node::Null)) {
                        self.value(options, shape, Some(kind.as_str()), key.place);
                    }
                } else {
                    let (message, help) = unknown(&name);
                    self.push(key.place, message, help);
                }
                for (extra, _) in &entries[1..] {
                    let extra_name = extra.value.scalar_text().unwrap_or_default();
                    self.push(
                        extra.place,
                        format!(
                            "a step map has exactly one key, the step kind; `{extra_name}` is a \
                             second key (indent options under `{name}:`)"
                        ),
                        Shape::Step.help(),
                    );
                }
            }
            _ => self.wrong_type(node, Shape::Step, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::raw::{
        RawCommand, RawDeploy, RawEnvironment, RawManual, RawNotification, RawPlan, RawReprovision,
        RawWindow,
    };
    use crate::plan::{Acknowledgement, Database, EnvironmentType, NotificationEvent};

    /// The keys of a raw type, and which of them are required, as serde reads them.
    fn keys_of<T: schemars::JsonSchema>() -> (Vec<String>, Vec<String>) {
        let schema = serde_json::to_value(schemars::schema_for!(T)).expect("json");
        let mut keys: Vec<String> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        let mut required: Vec<String> = schema["required"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|key| key.as_str().expect("key").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        keys.sort();
        required.sort();
        (keys, required)
    }

    fn keys_here(fields: &[Field]) -> (Vec<String>, Vec<String>) {
        let mut keys: Vec<String> = fields.iter().map(|field| field.key.to_owned()).collect();
        let mut required: Vec<String> = fields
            .iter()
            .filter(|field| field.required)
            .map(|field| field.key.to_owned())
            .collect();
        keys.sort();
        required.sort();
        (keys, required)
    }

    /// The walk knows exactly the keys of `plan::raw`: a key added there must be added here.
    #[test]
    fn the_keys_are_the_raw_types_keys() {
        assert_eq!(keys_here(PLAN), keys_of::<RawPlan>(), "plan");
        assert_eq!(keys_here(ENVIRONMENT), keys_of::<RawEnvironment>());
        assert_eq!(keys_here(WINDOW), keys_of::<RawWindow>());
        assert_eq!(keys_here(NOTIFICATION), keys_of::<RawNotification>());
        assert_eq!(keys_here(REPROVISION), keys_of::<RawReprovision>());
        assert_eq!(keys_here(DEPLOY), keys_of::<RawDeploy>());
        assert_eq!(keys_here(COMMAND), keys_of::<RawCommand>());
        assert_eq!(keys_here(MANUAL), keys_of::<RawManual>());
    }

    /// The closed sets of words are the ones the vocabulary's types accept, all of them.
    #[test]
    fn the_words_are_the_vocabularys() {
        fn accepted<T: for<'de> serde::Deserialize<'de>>(words: &[&str]) {
            for word in words {
                assert!(serde_saphyr::from_str::<T>(word).is_ok(), "{word}");
            }
        }
        accepted::<EnvironmentType>(ENVIRONMENT_TYPES);
        accepted::<Database>(DATABASES);
        accepted::<Acknowledgement>(ACKNOWLEDGEMENTS);
        accepted::<NotificationEvent>(NOTIFICATION_EVENTS);
        assert_eq!(NOTIFICATION_EVENTS.len(), NotificationEvent::ALL.len());
        assert_eq!(ACKNOWLEDGEMENTS.len(), Acknowledgement::ALL.len());
        for word in [ENVIRONMENT_TYPES, DATABASES] {
            let schema = if word == ENVIRONMENT_TYPES {
                serde_json::to_value(schemars::schema_for!(EnvironmentType))
            } else {
                serde_json::to_value(schemars::schema_for!(Database))
            }
            .expect("json");
            let text = schema.to_string();
            let count = text
                .matches("\"const\"")
                .count()
                .max(schema["enum"].as_array().map_or(0, Vec::len));
            assert_eq!(count, word.len(), "{text}");
        }
    }
}
