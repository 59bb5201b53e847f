//! Several replicas for real: three `daemon` processes share one PostgreSQL store and drive 50
//! plans through one `refreshctl emulator` process. All four run on one scaled clock
//! (`REFRESHCTL_TEST_CLOCK`, 7,200 times the wall clock), so a day and a half of schedule passes
//! in about twenty seconds. One replica dies by SIGKILL just after it started a refresh, holding
//! its runs' leases; the others take them over when the leases run out and finish the runs.
//! Afterwards every occurrence was decided once, every run submitted once, and the emulator's
//! request log shows each target's refresh started at most once.
//!
//! Needs `REFRESHCTL_TEST_POSTGRES` (`.ci/run` sets it); skipped with a note without it.

mod common;

#[path = "common/emulator_process.rs"]
#[allow(
    dead_code,
    reason = "this test starts the emulator with a clock of its own"
)]
mod emulator_process;

#[path = "common/postgres.rs"]
mod postgres_server;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use emulator_process::EmulatorProcess;
use refreshctl::state::{RunState, StateStore, StateUrl};
use serde_json::Value;

const PLANS: usize = 50;
const SPEED: u32 = 7_200;
/// Scaled: two seconds of wall time. Heartbeats come every third of it.
const LEASE: &str = "4h";
/// The replica that dies: just after its first refresh call, before it records the answer.
const DOOMED: &str = "replica-a";
/// How long the whole schedule may take in wall time before the test gives up.
const DEADLINE: Duration = Duration::from_mins(3);

/// A weekly plan for `replica-env-NN`, its window starting at `start` (UTC) for 12 hours; the
/// 50 windows overlap. The lead time of 30 hours leaves six (three wall seconds) of slack to
/// submit late with 24 hours' notice, for daemons slow to start on a busy machine.
fn plan(index: usize, start: DateTime<Utc>) -> String {
    let cron = start.format("%M %H * * %a").to_string().to_uppercase();
    format!(
        "version: 1
name: replica-{index:02}
project: 1234567
environment:
  name: replica-env-{index:02}
  type: sandbox
  release: \"10.0.41\"
source:
  name: contoso-prod
  type: production
  release: \"10.0.41\"
window:
  cron: \"{cron}\"
  timezone: UTC
  duration: 12h
lead_time: 30h
acknowledge:
  - target-database-erased
  - target-unavailable
"
    )
}

struct Replica {
    owner: &'static str,
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a daemon whose pass reports (JSON lines) go to `lines`, tagged with its owner.
fn replica(
    owner: &'static str,
    state: &str,
    plans: &std::path::Path,
    env: &[(&str, String)],
    lines: &mpsc::Sender<(&'static str, Value)>,
) -> Replica {
    let mut command = Command::new(env!("CARGO_BIN_EXE_refreshctl"));
    command
        .args(["--adapter", "lcs", "--state", state, "daemon", "--plans"])
        .arg(plans)
        .args(["--owner", owner, "--lease", LEASE])
        .args([
            "--poll-interval",
            "20m",
            "--recheck",
            "1s",
            "--format",
            "json",
        ])
        .env_remove("REFRESHCTL_ADAPTER")
        .env_remove("REFRESHCTL_FAILPOINT")
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if owner == DOOMED {
        command.env("REFRESHCTL_FAILPOINT", "after-call:start-refresh");
    }
    let mut child = command.spawn().expect("the daemon starts");
    let stdout = child.stdout.take().expect("stdout");
    let lines = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let report = serde_json::from_str(&line).unwrap_or_else(|error| {
                panic!("{owner} printed a non-JSON line ({error}): {line}")
            });
            if lines.send((owner, report)).is_err() {
                break;
            }
        }
    });
    Replica { owner, child }
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// What the replicas said over the whole schedule.
#[derive(Default)]
struct Said {
    /// Run id → the replicas that submitted it.
    submitted: HashMap<String, Vec<&'static str>>,
    /// Run id → its latest state as a pass left it.
    states: BTreeMap<String, String>,
    /// (run id, the replica that took it over, the owner whose lease ran out).
    taken_over: Vec<(String, &'static str, String)>,
    skipped: Vec<Value>,
    rejected: Vec<Value>,
    problems: Vec<Value>,
}

impl Said {
    fn hear(&mut self, owner: &'static str, report: &Value) {
        for run in strings(&report["submitted"]) {
            self.submitted
                .entry(run.to_owned())
                .or_default()
                .push(owner);
        }
        for item in report["advanced"].as_array().into_iter().flatten() {
            let run = item["run"].as_str().expect("run").to_owned();
            let state = item["state"].as_str().expect("state").to_owned();
            self.states.insert(run, state);
        }
        for item in report["taken_over"].as_array().into_iter().flatten() {
            self.taken_over.push((
                item["run"].as_str().expect("run").to_owned(),
                owner,
                item["from"].as_str().expect("from").to_owned(),
            ));
        }
        self.skipped
            .extend(report["skipped"].as_array().into_iter().flatten().cloned());
        self.rejected
            .extend(report["rejected"].as_array().into_iter().flatten().cloned());
        self.problems
            .extend(report["problems"].as_array().into_iter().flatten().cloned());
    }

    /// Every run has ended: succeeded, failed, or stopped for an operator.
    fn settled(&self) -> bool {
        self.submitted.len() == PLANS
            && self.submitted.keys().all(|run| {
                self.states.get(run).is_some_and(|state| {
                    state == "succeeded"
                        || state.starts_with("failed")
                        || state.starts_with("needs-attention")
                })
            })
    }
}

#[test]
fn three_daemons_share_fifty_plans_and_survive_a_sigkill() {
    let Some(state) = postgres_server::fresh_schema("replicas") else {
        return;
    };
    let directory = tempfile::tempdir().expect("temp");
    let plans = directory.path().join("plans");
    std::fs::create_dir(&plans).expect("dir");
    let origin = Utc::now()
        .duration_trunc(TimeDelta::seconds(1))
        .expect("now");
    // Windows from 32 hours on (submissions from two scaled hours on), six minutes apart.
    let first = (origin + TimeDelta::hours(32))
        .duration_trunc(TimeDelta::minutes(1))
        .expect("minute");
    let starts: Vec<DateTime<Utc>> = (0..PLANS)
        .map(|index| first + TimeDelta::minutes(6 * i64::try_from(index).expect("small")))
        .collect();
    for (index, start) in starts.iter().enumerate() {
        std::fs::write(
            plans.join(format!("replica-{index:02}.yaml")),
            plan(index, *start),
        )
        .expect("write");
    }
    let clock = (
        "REFRESHCTL_TEST_CLOCK",
        format!("{},{SPEED}", origin.to_rfc3339()),
    );
    let emulator = EmulatorProcess::start_with_env(
        &[
            "--plans",
            plans.to_str().expect("utf-8"),
            "--metadata-per-minute",
            "0",
            "--token-lifetime",
            "72h",
        ],
        &[(clock.0, clock.1.as_str())],
    );
    let mut env = emulator.env();
    env.push((clock.0, clock.1.clone()));
    let (sender, reports) = mpsc::channel();
    let mut replicas: Vec<Replica> = ["replica-a", "replica-b", "replica-c"]
        .into_iter()
        .map(|owner| replica(owner, &state, &plans, &env, &sender))
        .collect();
    drop(sender);

    let mut said = Said::default();
    let started = std::time::Instant::now();
    while !said.settled() {
        let left = DEADLINE.saturating_sub(started.elapsed());
        match reports.recv_timeout(left) {
            Ok((owner, report)) => said.hear(owner, &report),
            Err(error) => panic!(
                "the schedule did not finish ({error}): {} submitted, states {:?}",
                said.submitted.len(),
                said.states
            ),
        }
    }
    for replica in &mut replicas {
        if replica.owner != DOOMED {
            let pid = replica.child.id().to_string();
            let status = Command::new("kill").args(["-s", "TERM", &pid]).status();
            assert!(status.is_ok_and(|status| status.success()));
            let exit = replica.child.wait().expect("exit");
            assert!(exit.success(), "{} stops cleanly: {exit:?}", replica.owner);
        }
    }
    let doomed = replicas[0].child.wait().expect("exit");
    assert_eq!(
        doomed.signal(),
        Some(9),
        "{DOOMED} was killed at its first refresh call: {doomed:?}"
    );

    let requests = emulator.requests();
    let model = emulator.model();
    let store = StateStore::open(&StateUrl::parse(&state).expect("url")).expect("store");
    check_each_occurrence_decided_once(&store, &said, &starts);
    check_refreshes_started_at_most_once(&store, &said, &requests, &model);
    check_takeovers(&state, &store, &said);
}

fn check_each_occurrence_decided_once(store: &StateStore, said: &Said, starts: &[DateTime<Utc>]) {
    let mut by_replica: BTreeMap<&str, usize> = BTreeMap::new();
    for by in said.submitted.values().flatten() {
        *by_replica.entry(by).or_default() += 1;
    }
    eprintln!("submitted by each replica: {by_replica:?}");
    assert!(
        said.skipped.is_empty(),
        "nothing skipped: {:?}",
        said.skipped
    );
    assert!(
        said.rejected.is_empty(),
        "nothing rejected: {:?}",
        said.rejected
    );
    // A replica starved of CPU can outlive its lease mid-pass; its next write is then refused
    // by the fence ("changed by another process") and the run goes on under whoever claimed it.
    // That refusal is the safety working, not a fault; anything else is.
    let unfenced: Vec<&Value> = said
        .problems
        .iter()
        .filter(|problem| {
            !problem["error"]
                .as_str()
                .is_some_and(|error| error.contains("was changed by another process"))
        })
        .collect();
    assert!(
        unfenced.is_empty(),
        "every run advanced without error but the fence's: {unfenced:?}"
    );
    if !said.problems.is_empty() {
        eprintln!(
            "fenced writes of replicas whose lease ran out: {}",
            said.problems.len()
        );
    }
    for (run, by) in &said.submitted {
        assert_eq!(by.len(), 1, "{run} submitted by {by:?}");
    }
    let occurrences = store.occurrences().expect("occurrences");
    assert_eq!(occurrences.len(), PLANS, "{occurrences:?}");
    let decided: HashSet<(String, DateTime<Utc>)> = occurrences
        .iter()
        .map(|occurrence| (occurrence.plan.clone(), occurrence.window_start))
        .collect();
    let expected: HashSet<(String, DateTime<Utc>)> = starts
        .iter()
        .enumerate()
        .map(|(index, start)| (format!("replica-{index:02}"), *start))
        .collect();
    assert_eq!(decided, expected, "each plan's first window, once");
    let runs = store.runs().expect("runs");
    assert_eq!(runs.len(), PLANS, "one run per occurrence");
    for occurrence in &occurrences {
        assert!(
            said.submitted.contains_key(&occurrence.run),
            "{} submitted by a replica's pass",
            occurrence.run
        );
    }
}

/// Each target's refresh was started once, by exactly one call, for each run that succeeded. A
/// run whose intent the dead replica wrote without sending its call is left for an operator
/// (nothing is ever sent twice), and its target saw no refresh call at all.
fn check_refreshes_started_at_most_once(
    store: &StateStore,
    said: &Said,
    requests: &[refreshctl::emulator::RequestRecord],
    model: &refreshctl::sim::Lcs,
) {
    let mut calls: HashMap<String, usize> = HashMap::new();
    for request in requests {
        if request.method == "POST" && request.path.contains("/databasemovement/v1/refresh/") {
            let target = request.path.rsplit('/').next().expect("target id");
            *calls.entry(target.to_owned()).or_default() += 1;
        }
    }
    let mut succeeded = 0;
    for run in store.runs().expect("runs") {
        let target = run
            .target_id
            .clone()
            .expect("preflight resolved the target");
        let made = calls.get(&target).copied().unwrap_or(0);
        let operations = model
            .operations
            .iter()
            .filter(|operation| operation.environment == target)
            .count();
        match &run.state {
            RunState::Succeeded => {
                succeeded += 1;
                assert_eq!(made, 1, "{}: one refresh call", run.id);
                assert_eq!(operations, 1, "{}: one refresh in LCS's history", run.id);
            }
            RunState::NeedsAttention { reason, .. } => {
                assert_eq!((made, operations), (0, 0), "{}: {reason}", run.id);
                assert!(
                    reason.contains("was about to be sent"),
                    "{}: {reason}",
                    run.id
                );
            }
            other => panic!("{}: {other:?} ({:?})", run.id, said.states.get(&run.id)),
        }
    }
    // The dead replica claims runs eight at a time: at most the others of its batch can have
    // stopped between their intent and their call.
    assert!(succeeded >= PLANS - 7, "{succeeded} of {PLANS} succeeded");
    eprintln!(
        "{succeeded} of {PLANS} runs succeeded, {} left for an operator; {} refresh calls in all",
        PLANS - succeeded,
        calls.values().sum::<usize>()
    );
}

/// The runs the dead replica held were taken over by the others once its leases ran out, each
/// said so in its log, and the run it died in (its refresh started) finished.
fn check_takeovers(state: &str, store: &StateStore, said: &Said) {
    let from_doomed: Vec<&(String, &str, String)> = said
        .taken_over
        .iter()
        .filter(|(_, _, from)| from == DOOMED)
        .collect();
    assert!(!from_doomed.is_empty(), "{:?}", said.taken_over);
    // A live replica starved of CPU can let a lease run out too (its writes are then fenced);
    // that is the lease doing its work, and is counted, not failed.
    let from_live = said
        .taken_over
        .iter()
        .filter(|(_, _, from)| from != DOOMED)
        .count();
    if from_live > 0 {
        eprintln!("leases of live replicas that ran out under load: {from_live}");
    }
    let mut finished_after_call = 0;
    for (run, by, _) in &from_doomed {
        // As an operator reads it: `status` shows the run's log.
        let status = common::refreshctl(&["--state", state, "status", run, "--format", "json"]);
        assert_eq!(status.code, 0, "{}", status.stderr);
        let status: Value = serde_json::from_str(&status.stdout).expect("status JSON");
        let told = format!("`{by}` took the run over: the lease of `{DOOMED}` ran out");
        assert!(
            status["log"].as_array().into_iter().flatten().any(|entry| {
                entry["message"]
                    .as_str()
                    .is_some_and(|text| text.contains(&told))
            }),
            "{run}: {status}"
        );
        let events = store.events(run).expect("events");
        let adopted = events.iter().any(|event| {
            event.detail["message"].as_str().is_some_and(|text| {
                text.starts_with("the call was made before the process stopped")
            })
        });
        if adopted {
            assert_eq!(
                said.states.get(run).map(String::as_str),
                Some("succeeded"),
                "{run}"
            );
            finished_after_call += 1;
        }
    }
    eprintln!(
        "taken over from {DOOMED}: {:?}; {finished_after_call} adopted the refresh it had started",
        from_doomed
            .iter()
            .map(|(run, by, _)| format!("{run} by {by}"))
            .collect::<Vec<_>>()
    );
    assert!(
        finished_after_call >= 1,
        "the run whose refresh the dead replica started was adopted and finished: {from_doomed:?}"
    );
}
