//! The executor on the simulator, on simulated time, with a real SQLite state file.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use refreshctl::adapter::{AdapterKind, MODEL_KEY, SimulatorAdapter};
use refreshctl::clock::Clock;
use refreshctl::executor::{
    self, ApproveError, Collect, Event, EventKind, EventSink, Executor, Held, Progress, Settings,
};
use refreshctl::plan::{EnvironmentType, Plan};
use refreshctl::rules::{Catalog, CheckSettings, check_file};
use refreshctl::sim::{Call, Durations, Faults, Lcs};
use refreshctl::state::{
    Claim, Intent, LockOutcome, RunRecord, RunState, StateStore, StateUrl, StepState,
};

const PLAN: &str = "version: 1
name: uat-refresh
project: 1234567
environment: {name: contoso-uat, type: sandbox, release: \"10.0.41\"}
source: {name: contoso-prod, type: production, release: \"10.0.41\"}
window: {start: 2026-12-05T22:00:00+01:00, duration: 6h}
acknowledge: [target-database-erased, target-unavailable]
post_steps:
  - reprovision
  - reset-financial-reporting
  - deploy: {file: packages/build.zip, name: Build 42}
  - command:
      run: [\"sh\", \"-c\", \"echo anonymized {{ environment.name }} in {{ run.id }}\"]
  - manual: {instructions: Re-activate the POS devices.}
";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(common::NOW)
        .expect("now")
        .to_utc()
}

struct Rehearsal {
    _directory: tempfile::TempDir,
    plan: Plan,
    plan_dir: PathBuf,
    store: Arc<StateStore>,
    clock: Clock,
    adapter: SimulatorAdapter,
}

fn rehearsal(text: &str, faults: Faults) -> Rehearsal {
    let directory = tempfile::tempdir().expect("temp");
    let plan_dir = directory.path().to_path_buf();
    std::fs::create_dir_all(plan_dir.join("packages")).expect("mkdir");
    // 9 MiB: three blocks of 4 MiB at most.
    std::fs::write(
        plan_dir.join("packages/build.zip"),
        vec![7_u8; 9 * 1024 * 1024],
    )
    .expect("package");
    let path = plan_dir.join("plan.yaml");
    std::fs::write(&path, text).expect("plan");
    let settings = CheckSettings {
        now: now(),
        catalog: Catalog::embedded(),
        adapter: None,
    };
    let plan = check_file("plan.yaml", &path, text.as_bytes(), &settings)
        .plan
        .expect("plan resolves");
    let store =
        Arc::new(StateStore::open(&StateUrl::Sqlite(plan_dir.join("state.db"))).expect("store"));
    let clock = Clock::simulated(now());
    let mut model = Lcs::new(Durations::default(), faults, now());
    model.add_environment(
        1_234_567,
        "contoso-prod",
        EnvironmentType::Production,
        "10.0.41",
        None,
    );
    model.add_environment(
        1_234_567,
        "contoso-uat",
        EnvironmentType::Sandbox,
        "10.0.41",
        None,
    );
    let faults = model.faults;
    let adapter = SimulatorAdapter::open(store.clone(), MODEL_KEY, clock.clone(), faults, || model)
        .expect("the simulator on the store");
    Rehearsal {
        _directory: directory,
        plan,
        plan_dir,
        store,
        clock,
        adapter,
    }
}

impl Rehearsal {
    /// Approves `step` of `run` as `alice`, now.
    fn approve(&self, run: &str, step: &str) -> Result<(), ApproveError> {
        let operator = executor::Operator {
            by: "alice".into(),
            reason: None,
        };
        executor::approve(&self.store, run, step, &operator, self.clock.now())
    }

    fn submit(&self) -> RunRecord {
        let window = self.plan.next_window(now()).expect("window");
        let Claim::Inserted(run) = self
            .store
            .insert_run(&executor::new_run(
                &self.plan,
                window,
                now(),
                None,
                AdapterKind::Simulator,
            ))
            .expect("insert")
        else {
            panic!("new run");
        };
        assert_eq!(
            self.store
                .lock(&run.lock_key(), &run.id, now())
                .expect("lock"),
            LockOutcome::Acquired
        );
        run
    }

    fn executor<'a>(&'a self, events: &'a mut dyn EventSink) -> Executor<'a, SimulatorAdapter> {
        Executor {
            held: Held::default(),
            plan: &self.plan,
            adapter: &self.adapter,
            store: &self.store,
            clock: &self.clock,
            sink: events,
            settings: Settings {
                step_deadline: TimeDelta::hours(30),
                poll_interval: TimeDelta::seconds(60),
                cache_dir: self.plan_dir.join("cache"),
                plan_dir: self.plan_dir.clone(),
            },
        }
    }

    async fn run(&self, run: &mut RunRecord, events: &mut Collect) -> Progress {
        let mut executor = self.executor(events);
        executor.run_to_end(run).await.expect("no store failure")
    }

    fn calls(&self, wanted: fn(&Call) -> bool) -> usize {
        self.adapter
            .model()
            .calls
            .iter()
            .filter(|record| wanted(&record.call))
            .count()
    }
}

/// Each status poll's answer is an event with the remote status, the operation and the next
/// poll (the live view shows them); returns how many there were.
fn polls_say_how_it_stands(events: &[refreshctl::executor::Event]) -> usize {
    let polled: Vec<&refreshctl::executor::Event> = events
        .iter()
        .filter(|event| event.kind == EventKind::Polled)
        .collect();
    assert!(
        polled
            .iter()
            .any(|event| event.step.as_deref() == Some("monitor-refresh")
                && event.operation.is_some()
                && event.until.is_some()
                && event.message == "InProgress"),
        "{polled:?}"
    );
    polled.len()
}

/// Runs `run` up to the Financial reporting reset, which waits for an operator as on LCS, with
/// the instructions a real run gives, and approves it.
async fn reset_financial_reporting_by_hand(
    rehearsal: &Rehearsal,
    run: &mut RunRecord,
    events: &mut Collect,
) {
    let progress = rehearsal.run(run, events).await;
    // Financial reporting is reset by hand, as on LCS: the rehearsal waits for it with the
    // instructions a real run gives.
    assert_eq!(
        progress,
        Progress::Blocked(RunState::AwaitingApproval {
            step: "reset-financial-reporting".into()
        })
    );
    assert!(
        rehearsal.clock.now() >= run.window_start,
        "the window was waited for in simulated time"
    );
    assert!(
        events.0.iter().any(|event| event.kind == EventKind::Log
            && event.message.contains("Tools > Reset data mart")
            && event.message.contains("Tools > Integration status")
            && event.message.ends_with(&format!(
                "`refreshctl approve {} reset-financial-reporting`",
                run.id
            ))),
        "{:#?}",
        events.0
    );
    rehearsal
        .approve(&run.id, "reset-financial-reporting")
        .expect("approve");
}

#[tokio::test(flavor = "current_thread")]
async fn a_whole_plan_rehearses_to_succeeded_with_two_manual_approvals() {
    let rehearsal = rehearsal(PLAN, Faults::default());
    let mut run = rehearsal.submit();
    let mut events = Collect::default();
    reset_financial_reporting_by_hand(&rehearsal, &mut run, &mut events).await;
    let mut run = rehearsal.store.run(&run.id).expect("read").expect("run");
    let progress = rehearsal.run(&mut run, &mut events).await;
    assert_eq!(
        progress,
        Progress::Blocked(RunState::AwaitingApproval {
            step: "manual".into()
        })
    );

    assert!(matches!(
        rehearsal.approve(&run.id, "command"),
        Err(ApproveError::OtherStep { .. })
    ));
    rehearsal.approve(&run.id, "manual").expect("approve");
    assert!(matches!(
        rehearsal.approve(&run.id, "manual"),
        Err(ApproveError::NotWaiting { .. })
    ));
    let mut run = rehearsal.store.run(&run.id).expect("read").expect("run");
    let progress = rehearsal.run(&mut run, &mut events).await;
    assert_eq!(progress, Progress::Finished(RunState::Succeeded));

    let stored = rehearsal.store.run(&run.id).expect("read").expect("run");
    assert!(
        stored
            .steps
            .iter()
            .all(|step| matches!(step.state, StepState::Succeeded { .. })),
        "{:#?}",
        stored.steps
    );
    assert_each_change_made_once(&rehearsal);
    let deploy_upload = stored
        .steps
        .iter()
        .find(|step| step.id == "deploy.upload")
        .expect("step");
    assert_eq!(deploy_upload.remote.blocks.len(), 3);
    let logged: Vec<&str> = events
        .0
        .iter()
        .filter(|event| event.kind == EventKind::Log)
        .map(|event| event.message.as_str())
        .collect();
    assert!(
        logged.contains(&"anonymized contoso-uat in uat-refresh@20261205T2100Z"),
        "{logged:?}"
    );
    // Everything is kept but the waits before status polls and the polls' answers, which are
    // shown live only.
    let poll_waits = events
        .0
        .iter()
        .filter(|event| {
            event.kind == EventKind::Waiting
                && event
                    .until
                    .is_some_and(|until| until - event.at < TimeDelta::hours(1))
        })
        .count();
    assert!(poll_waits > 0);
    let poll_waits = poll_waits + polls_say_how_it_stands(&events.0);
    let stored = rehearsal.store.events(&run.id).expect("log");
    let approvals = stored
        .iter()
        .filter(|event| {
            event.detail["approved"] == "manual"
                || event.detail["approved"] == "reset-financial-reporting"
        })
        .count();
    assert_eq!(approvals, 2, "approve writes its own entry");
    assert_eq!(
        stored.len(),
        events.0.len() - poll_waits + approvals,
        "every other event is kept"
    );
    let states: Vec<&str> = events
        .0
        .iter()
        .filter(|event| event.kind == EventKind::RunState)
        .map(|event| event.message.as_str())
        .collect();
    let waits = ["awaiting-approval"; 2];
    assert_eq!(
        states,
        [&["accepted", "running"][..], &waits, &["succeeded"]].concat()
    );
    let mut next = run.clone();
    next.id = "uat-refresh@20261212T2100Z".into();
    rehearsal.store.insert_run(&next).expect("another run");
    assert_eq!(
        rehearsal
            .store
            .lock(&next.lock_key(), &next.id, rehearsal.clock.now())
            .expect("lock"),
        LockOutcome::Acquired,
        "the finished run released its target"
    );
}

/// Shows each event once the store holds it, as another process reads the store: the entry in
/// the run's log, and for a step's or the run's new state, the run's record.
struct StoredFirst {
    store: StateStore,
    shown: Vec<Event>,
}

impl EventSink for StoredFirst {
    fn event(&mut self, event: &Event) {
        self.shown.push(event.clone());
        let poll_wait = event.kind == EventKind::Waiting
            && event
                .until
                .is_some_and(|until| until - event.at < TimeDelta::hours(1));
        if event.kind == EventKind::Polled || poll_wait {
            return;
        }
        let log = self.store.events(&event.run).expect("log");
        assert!(
            log.iter()
                .any(|entry| entry.detail["message"] == event.message.as_str()),
            "shown before it was stored: {event:?}\nthe log: {log:#?}"
        );
        let run = self.store.run(&event.run).expect("read").expect("run");
        let step = |id: &str| run.steps.iter().find(|step| step.id == id).expect("step");
        match (&event.kind, event.step.as_deref()) {
            (EventKind::StepStarted, Some(id)) => assert!(
                !matches!(step(id).state, StepState::Pending),
                "`{id}` shown started while stored pending"
            ),
            (EventKind::StepSucceeded, Some(id)) => assert!(
                matches!(step(id).state, StepState::Succeeded { .. }),
                "`{id}` shown succeeded while stored {:?}",
                step(id).state
            ),
            (EventKind::RunState, _) => assert_eq!(
                run.state.name(),
                event.message,
                "a state shown before it was stored"
            ),
            _ => {}
        }
    }
}

/// The executor holds what it writes between two calls out and makes it in one transaction:
/// what it shows comes after, and nothing shown is missing from the store.
#[tokio::test(flavor = "current_thread")]
async fn every_event_is_shown_once_the_store_holds_it() {
    let rehearsal = rehearsal(PLAN, Faults::default());
    let mut run = rehearsal.submit();
    let mut sink = StoredFirst {
        store: StateStore::open(&StateUrl::Sqlite(rehearsal.plan_dir.join("state.db")))
            .expect("a second store on the file"),
        shown: Vec::new(),
    };
    let mut finished = false;
    for _ in 0..4 {
        let progress = {
            let mut executor = rehearsal.executor(&mut sink);
            executor
                .run_to_end(&mut run)
                .await
                .expect("no store failure")
        };
        match progress {
            Progress::Blocked(RunState::AwaitingApproval { step }) => {
                rehearsal.approve(&run.id, &step).expect("approve");
                run = rehearsal.store.run(&run.id).expect("read").expect("run");
            }
            Progress::Finished(state) => {
                assert_eq!(state, RunState::Succeeded);
                finished = true;
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(finished, "the run ends");
    let started = sink
        .shown
        .iter()
        .filter(|event| event.kind == EventKind::StepStarted)
        .count();
    assert_eq!(started, run.steps.len(), "every step was shown starting");
    assert_each_change_made_once(&rehearsal);
}

#[tokio::test(flavor = "current_thread")]
async fn a_lost_answer_is_settled_from_history_and_never_sent_again() {
    let rehearsal = rehearsal(PLAN, Faults::default());
    let mut run = rehearsal.submit();
    let mut events = Collect::default();
    // Run until the refresh is being monitored, then forget its answer, as a crash between
    // the call and the commit of its answer would.
    rehearsal.clock.sleep_until(run.window_start).await;
    let progress = rehearsal.advance_once(&mut run, &mut events).await;
    assert!(
        matches!(progress, Progress::Waiting(_)),
        "monitoring the refresh: {progress:?}"
    );
    let index = run
        .steps
        .iter()
        .position(|step| step.id == "start-refresh")
        .expect("step");
    let activity = run.steps[index].remote.activity.take().expect("answered");
    run.steps[index].state = StepState::Running {
        started: run.window_start,
    };
    rehearsal.store.update_run(&mut run).expect("write");

    let mut executor_run = run.clone();
    let progress = rehearsal.run(&mut executor_run, &mut events).await;
    assert_eq!(
        progress,
        Progress::Blocked(RunState::AwaitingApproval {
            step: "reset-financial-reporting".into()
        })
    );
    assert_eq!(
        executor_run.steps[index].remote.activity.as_deref(),
        Some(activity.as_str()),
        "adopted from history"
    );
    assert_eq!(
        rehearsal.calls(|call| matches!(call, Call::StartRefresh { .. })),
        1,
        "not sent twice"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_intent_that_history_does_not_show_needs_an_operator() {
    let rehearsal = rehearsal(PLAN, Faults::default());
    let mut run = rehearsal.submit();
    let mut events = Collect::default();
    // Before the window: preflight and submit run, then the run waits for the window.
    let progress = rehearsal.advance_once(&mut run, &mut events).await;
    assert_eq!(progress, Progress::Waiting(run.window_start));
    // A crash after the intent was committed and before the call was sent leaves this.
    rehearsal.clock.sleep_until(run.window_start).await;
    let wait = run
        .steps
        .iter()
        .position(|step| step.id == "wait-for-window")
        .expect("step");
    run.steps[wait].state = StepState::Succeeded {
        started: now(),
        finished: run.window_start,
    };
    run.state = RunState::Running;
    let index = run
        .steps
        .iter()
        .position(|step| step.id == "start-refresh")
        .expect("step");
    run.steps[index].state = StepState::Running {
        started: rehearsal.clock.now(),
    };
    run.steps[index].intent = Some(Intent {
        call: "start-refresh".into(),
        at: rehearsal.clock.now(),
        unanswered: None,
    });
    rehearsal.store.update_run(&mut run).expect("write");

    let progress = rehearsal.run(&mut run, &mut events).await;
    let Progress::Blocked(RunState::NeedsAttention { step, reason }) = progress else {
        panic!("expected needs-attention, got {progress:?}");
    };
    assert_eq!(step, "start-refresh");
    assert!(
        reason.contains("nothing is sent again automatically"),
        "{reason}"
    );
    assert_eq!(
        rehearsal.calls(|call| matches!(call, Call::StartRefresh { .. })),
        0
    );
}

#[tokio::test(flavor = "current_thread")]
async fn faults_end_in_the_right_state() {
    for (faults, step, needle) in [
        (
            Faults {
                refresh_fails: true,
                ..Faults::default()
            },
            "monitor-refresh",
            "the operation ended Failed",
        ),
        (
            Faults {
                deployment_fails: true,
                ..Faults::default()
            },
            "reprovision.monitor",
            "the deployment ended Failed",
        ),
        (
            Faults {
                asset_rejected: true,
                ..Faults::default()
            },
            "reprovision.upload",
            "rejected the package",
        ),
    ] {
        let rehearsal = rehearsal(PLAN, faults);
        let mut run = rehearsal.submit();
        let progress = rehearsal.run(&mut run, &mut Collect::default()).await;
        let Progress::Finished(RunState::Failed { error }) = progress else {
            panic!("expected failed, got {progress:?}");
        };
        assert!(error.starts_with(step) && error.contains(needle), "{error}");
    }
    let rehearsal = rehearsal(
        PLAN,
        Faults {
            throttled_calls: 3,
            ..Faults::default()
        },
    );
    let mut run = rehearsal.submit();
    let progress = rehearsal.run(&mut run, &mut Collect::default()).await;
    assert_eq!(
        progress,
        Progress::Blocked(RunState::AwaitingApproval {
            step: "reset-financial-reporting".into()
        }),
        "throttling only delays"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn preflight_rejects_a_production_target() {
    let text = PLAN.replace(
        "environment: {name: contoso-uat, type: sandbox",
        "environment: {name: contoso-prod2, type: sandbox",
    );
    let rehearsal = rehearsal(&text, Faults::default());
    let mut model = rehearsal.adapter.model();
    model.add_environment(
        1_234_567,
        "contoso-prod2",
        EnvironmentType::Production,
        "10.0.41",
        None,
    );
    let adapter = SimulatorAdapter::new(model, rehearsal.clock.clone());
    let rehearsal = Rehearsal {
        adapter,
        ..rehearsal
    };
    let mut run = rehearsal.submit();
    let progress = rehearsal.run(&mut run, &mut Collect::default()).await;
    let Progress::Finished(RunState::Rejected { reason }) = progress else {
        panic!("expected rejected, got {progress:?}");
    };
    assert!(reason.contains("is a production environment"), "{reason}");
    assert_eq!(rehearsal.calls(Call::is_destructive), 0);
}

/// A package deleted after the plan was validated stops the run at preflight, before anything
/// is asked of the service, naming the file as the plan writes it (relative to its directory).
#[tokio::test(flavor = "current_thread")]
async fn a_file_deleted_after_validate_stops_the_run_at_preflight() {
    let rehearsal = rehearsal(PLAN, Faults::default());
    std::fs::remove_file(rehearsal.plan_dir.join("packages/build.zip")).expect("delete");
    let mut run = rehearsal.submit();
    let progress = rehearsal.run(&mut run, &mut Collect::default()).await;
    let Progress::Finished(RunState::Rejected { reason }) = progress else {
        panic!("expected rejected, got {progress:?}");
    };
    assert!(
        reason.starts_with("`packages/build.zip` (deploy.file) does not exist (looked for `")
            && reason.contains("relative to the plan's directory")
            && reason.ends_with("nothing was changed"),
        "{reason}"
    );
    assert_eq!(rehearsal.calls(Call::is_destructive), 0);
    assert_eq!(
        rehearsal.adapter.model().calls.len(),
        0,
        "not even a read: the files are checked first"
    );
}

/// A package deleted while the run waits for its window stops it right before the refresh.
#[tokio::test(flavor = "current_thread")]
async fn a_file_deleted_while_waiting_for_the_window_stops_the_run_before_the_refresh() {
    let rehearsal = rehearsal(PLAN, Faults::default());
    let mut run = rehearsal.submit();
    let mut events = Collect::default();
    let waiting = rehearsal.advance_once(&mut run, &mut events).await;
    assert!(matches!(waiting, Progress::Waiting(_)), "{waiting:?}");
    assert_eq!(run.state, RunState::Accepted, "preflight passed");
    std::fs::remove_file(rehearsal.plan_dir.join("packages/build.zip")).expect("delete");
    let progress = rehearsal.run(&mut run, &mut events).await;
    let Progress::Finished(RunState::Failed { error }) = progress else {
        panic!("expected failed, got {progress:?}");
    };
    assert!(
        error.starts_with("start-refresh: `packages/build.zip` (deploy.file) does not exist")
            && error.ends_with("nothing was changed"),
        "{error}"
    );
    assert_eq!(
        rehearsal.calls(Call::is_destructive),
        0,
        "no refresh was started"
    );
}

impl Rehearsal {
    /// One `advance`: everything that can be done now, up to the first wait.
    async fn advance_once(&self, run: &mut RunRecord, events: &mut Collect) -> Progress {
        let mut executor = self.executor(events);
        executor.advance(run).await.expect("advance")
    }
}

/// The rehearsal of `PLAN` changed each thing exactly once.
fn assert_each_change_made_once(rehearsal: &Rehearsal) {
    assert_eq!(
        rehearsal.calls(|call| matches!(call, Call::StartRefresh { .. })),
        1
    );
    assert_eq!(
        rehearsal.calls(|call| matches!(call, Call::ApplyUpdate { .. })),
        2,
        "reprovision and deploy"
    );
    assert_eq!(
        rehearsal.calls(|call| matches!(call, Call::CreateFileAsset { .. })),
        2
    );
    assert_eq!(
        rehearsal.calls(|call| matches!(call, Call::PutBlock { .. })),
        1 + 3,
        "the tool in one block, the build in three"
    );
    assert_eq!(
        rehearsal.calls(|call| matches!(call, Call::ResetFinancialReporting { .. })),
        0,
        "reset by hand, as on LCS"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_whose_window_ended_before_preflight_fails_and_changes_nothing() {
    let rehearsal = rehearsal(PLAN, Faults::default());
    let mut run = rehearsal.submit();
    // The scheduler was down (or the service unreachable) past the whole window.
    rehearsal
        .clock
        .sleep_until(run.window_end + TimeDelta::minutes(1))
        .await;
    let mut events = Collect::default();
    let progress = rehearsal.run(&mut run, &mut events).await;
    let Progress::Finished(RunState::Failed { error }) = progress else {
        panic!("{progress:?}");
    };
    assert_eq!(
        error,
        "preflight: the window ended at 2026-12-06T03:00:00Z before preflight could pass; nothing was changed"
    );
    assert_eq!(rehearsal.calls(|_| true), 0, "nothing was asked of LCS");
    assert_eq!(run.steps[0].id, "preflight");
    assert!(matches!(run.steps[0].state, StepState::Failed { .. }));
}
