//! The state store contract, as one suite every store must pass (SQLite now, PostgreSQL later).
//! `open` must open the same store again each time it is called (to prove persistence).

use chrono::{DateTime, TimeDelta, Utc};
use refreshctl::adapter::AdapterKind;
use refreshctl::state::{
    Claim, Intent, Lease, LeaseOutcome, LockOutcome, ModelRow, ModelRows, OccurrenceRecord,
    RemoteIds, RunRecord, RunState, StateStore, StepRecord, StepState, StoreError, Write,
};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("time").to_utc()
}

/// A fresh run of `plan` for a window starting at `start`, with three pending steps.
pub fn run(plan: &str, start: &str) -> RunRecord {
    let start = at(start);
    RunRecord {
        id: RunRecord::id_for(plan, start),
        plan: plan.to_owned(),
        file: format!("plans/{plan}.yaml"),
        target: "1234567/contoso-uat".into(),
        state: RunState::Submitted,
        window_start: start,
        window_end: start + TimeDelta::hours(3),
        point_in_time: None,
        target_id: None,
        source_id: None,
        adapter: Some(AdapterKind::Lcs),
        reason: None,
        steps: ["preflight", "submit", "start-refresh"]
            .into_iter()
            .map(|id| StepRecord {
                id: id.into(),
                state: StepState::Pending,
                remote: RemoteIds::default(),
                intent: None,
                polls: 0,
            })
            .collect(),
        created: start - TimeDelta::days(2),
        updated: start - TimeDelta::days(2),
        version: 0,
        fence: 0,
    }
}

pub fn run_all(open: &dyn Fn() -> StateStore) {
    inserting_a_run_is_idempotent(open);
    runs_are_listed_by_window(open);
    updates_are_versioned_and_persist(open);
    events_keep_their_order(open);
    writes_made_together_are_made_all_or_none(open);
    a_write_over_a_stale_one_is_refused_with_it(open);
    one_active_run_per_target(open);
    documents_round_trip(open);
    documents_are_listed_by_prefix_and_deleted(open);
    waiting_runs_are_those_that_need_a_person(open);
    models_change_by_compare_and_swap(open);
    leases_are_exclusive_and_fenced(open);
    due_runs_are_claimed_earliest_first_across_states(open);
    occurrences_are_decided_once(open);
    skips_are_decided_once_in_a_batch(open);
    plans_are_first_seen_once(open);
    rehearsals_and_real_runs_never_stand_for_each_other(open);
}

fn inserting_a_run_is_idempotent(open: &dyn Fn() -> StateStore) {
    let store = open();
    let record = run("uat-weekly", "2026-12-05T21:00:00Z");
    assert_eq!(record.id, "uat-weekly@20261205T2100Z");
    let Claim::Inserted(inserted) = store.insert_run(&record).expect("insert") else {
        panic!("the first insert inserts");
    };
    assert_eq!(inserted.version, 1);
    let mut changed = record.clone();
    changed.reason = Some("a second submit of the same window".into());
    match store.insert_run(&changed).expect("insert again") {
        Claim::Existing(existing) => assert_eq!(existing, inserted, "the first record stays"),
        Claim::Inserted(_) => panic!("the same window made two runs"),
    }
    assert_eq!(store.run(&record.id).expect("read"), Some(inserted));
    assert_eq!(store.run("no-such-run@20261205T2100Z").expect("read"), None);
}

fn runs_are_listed_by_window(open: &dyn Fn() -> StateStore) {
    let store = open();
    for (plan, start) in [
        ("late", "2027-01-02T21:00:00Z"),
        ("early", "2026-11-28T21:00:00Z"),
    ] {
        store.insert_run(&run(plan, start)).expect("insert");
    }
    let ids: Vec<String> = store
        .runs()
        .expect("list")
        .into_iter()
        .map(|run| run.id)
        .collect();
    let early = ids
        .iter()
        .position(|id| id.starts_with("early@"))
        .expect("early");
    let late = ids
        .iter()
        .position(|id| id.starts_with("late@"))
        .expect("late");
    assert!(early < late, "{ids:?}");
}

fn updates_are_versioned_and_persist(open: &dyn Fn() -> StateStore) {
    let store = open();
    let Claim::Inserted(mut record) = store
        .insert_run(&run("versioned", "2026-12-12T21:00:00Z"))
        .expect("insert")
    else {
        panic!("new run");
    };
    let stale = record.clone();
    let started = at("2026-12-12T21:00:05Z");
    record.state = RunState::Running;
    record.steps[2] = StepRecord {
        id: "start-refresh".into(),
        state: StepState::Running { started },
        remote: RemoteIds {
            activity: Some("5f1c2a7e-0000-4000-8000-000000000042".into()),
            asset: None,
            blocks: vec!["AAAA".into(), "AAAB".into()],
            file: None,
        },
        intent: Some(Intent {
            call: "start-refresh".into(),
            at: started,
            unanswered: None,
        }),
        polls: 3,
    };
    store.update_run(&mut record).expect("update");
    assert_eq!(record.version, 2);
    let mut stale = stale;
    stale.state = RunState::Canceled;
    assert!(
        matches!(store.update_run(&mut stale), Err(StoreError::Conflict { run }) if run == record.id),
        "a write from a stale read is refused"
    );
    drop(store);
    let reopened = open();
    let stored = reopened.run(&record.id).expect("read").expect("present");
    assert_eq!(
        stored, record,
        "state, steps, remote ids and intents survive a reopen"
    );
    record.state = RunState::NeedsAttention {
        step: "start-refresh".into(),
        reason: "the refresh may have been started".into(),
    };
    reopened.update_run(&mut record).expect("update");
    assert_eq!(
        reopened
            .run(&record.id)
            .expect("read")
            .expect("present")
            .state,
        record.state
    );
}

fn events_keep_their_order(open: &dyn Fn() -> StateStore) {
    let store = open();
    let record = run("evented", "2026-12-19T21:00:00Z");
    store.insert_run(&record).expect("insert");
    let moment = at("2026-12-17T21:00:00Z");
    for (index, kind) in ["submitted", "accepted", "started"].into_iter().enumerate() {
        let event = store
            .append_event(
                &record.id,
                kind,
                &serde_json::json!({ "index": index }),
                moment,
            )
            .expect("append");
        assert_eq!(event.sequence, index as u64 + 1);
    }
    let events = store.events(&record.id).expect("events");
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(kinds, ["submitted", "accepted", "started"]);
    assert_eq!(events[2].detail["index"], 2);
    assert_eq!(events[0].at, moment);
    assert!(store.events("no-such-run").expect("events").is_empty());
}

/// `write_all`: a run's updates, log entries and its lock's release in one transaction, seen
/// by another process as one; one refused write (a stale version or fence) leaves none made.
fn writes_made_together_are_made_all_or_none(open: &dyn Fn() -> StateStore) {
    let store = open();
    let Claim::Inserted(mut record) = store
        .insert_run(&run("together", "2027-01-09T21:00:00Z"))
        .expect("insert")
    else {
        panic!("new run");
    };
    let target = "1234567/together";
    let moment = at("2027-01-09T21:00:00Z");
    let another = run("together-later", "2027-01-16T21:00:00Z");
    store.insert_run(&another).expect("insert");
    assert_eq!(
        store.lock(target, &record.id, moment).expect("lock"),
        LockOutcome::Acquired
    );
    let event = |message: &str, fence: Option<u64>| Write::Event {
        run: record.id.clone(),
        fence,
        kind: "log".into(),
        detail: serde_json::json!({ "step": "preflight", "message": message, "until": null }),
        at: moment,
    };
    let before = record.clone();
    let (first, second) = (event("first", Some(record.fence)), event("second", None));
    record.state = RunState::Accepted;
    let accepted = Write::run(&mut record);
    record.state = RunState::Failed {
        error: "preflight: refused".into(),
    };
    let failed = Write::run(&mut record);
    let stale = {
        let mut stale = before.clone();
        stale.state = RunState::Canceled;
        Write::run(&mut stale)
    };
    let unlock = Write::Unlock {
        target: target.into(),
        run: record.id.clone(),
    };

    // A stale write last: nothing before it is made.
    let refused = store.write_all(&[
        first.clone(),
        accepted.clone(),
        failed.clone(),
        unlock.clone(),
        stale,
    ]);
    assert!(
        matches!(&refused, Err(StoreError::Conflict { run }) if *run == record.id),
        "a stale write refuses them all: {refused:?}"
    );
    let other = open();
    assert_eq!(
        other.run(&record.id).expect("read").expect("present"),
        before,
        "the run is as it was"
    );
    assert!(
        other.events(&record.id).expect("events").is_empty(),
        "no entry is made"
    );
    assert_eq!(
        other.lock(target, &another.id, moment).expect("lock"),
        LockOutcome::HeldBy(record.id.clone()),
        "the lock is still held"
    );

    // The same writes without it: every one is made, in order, the run at its last version.
    store
        .write_all(&[first, accepted, second, failed, unlock])
        .expect("write all");
    let stored = other.run(&record.id).expect("read").expect("present");
    assert_eq!(stored, record, "the run as its last write left it");
    assert_eq!(stored.version, before.version + 2);
    let messages: Vec<String> = other
        .events(&record.id)
        .expect("events")
        .iter()
        .map(|event| {
            event.detail["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(messages, ["first", "second"]);
    assert_eq!(
        other.lock(target, &another.id, moment).expect("lock"),
        LockOutcome::Acquired,
        "the lock was released"
    );
    assert!(store.write_all(&[]).is_ok(), "nothing to write is no error");
}

/// A write over the version an earlier one in the same group leaves stands or falls with the
/// earlier: here the earlier is stale, though the later alone would fit the version stored.
fn a_write_over_a_stale_one_is_refused_with_it(open: &dyn Fn() -> StateStore) {
    let store = open();
    let Claim::Inserted(mut record) = store
        .insert_run(&run("chained", "2027-01-23T21:00:00Z"))
        .expect("insert")
    else {
        panic!("new run");
    };
    record.state = RunState::Accepted;
    store.update_run(&mut record).expect("update");
    let mut behind = record.clone();
    behind.version -= 1;
    let earlier = Write::run(&mut behind);
    behind.state = RunState::Canceled;
    let later = Write::run(&mut behind);
    let refused = store.write_all(&[earlier, later]);
    assert!(
        matches!(&refused, Err(StoreError::Conflict { run }) if *run == record.id),
        "the stale write refuses the one over it: {refused:?}"
    );
    assert_eq!(
        open().run(&record.id).expect("read").expect("present"),
        record,
        "the run is as its last accepted write left it"
    );
}

fn one_active_run_per_target(open: &dyn Fn() -> StateStore) {
    let store = open();
    let first = run("locker-a", "2027-02-06T21:00:00Z");
    let second = run("locker-b", "2027-02-06T21:00:00Z");
    store.insert_run(&first).expect("insert");
    store.insert_run(&second).expect("insert");
    let target = "7654321/fabrikam-test";
    let moment = at("2027-02-06T21:00:00Z");
    assert_eq!(
        store.lock(target, &first.id, moment).expect("lock"),
        LockOutcome::Acquired
    );
    assert_eq!(
        store.lock(target, &first.id, moment).expect("again"),
        LockOutcome::Acquired,
        "re-entrant"
    );
    assert_eq!(
        open().lock(target, &second.id, moment).expect("lock"),
        LockOutcome::HeldBy(first.id.clone()),
        "another process sees the lock"
    );
    store
        .unlock(target, &second.id)
        .expect("not the holder: nothing happens");
    assert_eq!(
        store.lock(target, &second.id, moment).expect("lock"),
        LockOutcome::HeldBy(first.id.clone())
    );
    store.unlock(target, &first.id).expect("unlock");
    assert_eq!(
        store.lock(target, &second.id, moment).expect("lock"),
        LockOutcome::Acquired
    );
}

fn documents_round_trip(open: &dyn Fn() -> StateStore) {
    let store = open();
    assert_eq!(store.load_document("simulator/model").expect("load"), None);
    store
        .save_document("simulator/model", "{\"a\":1}")
        .expect("save");
    store
        .save_document("simulator/model", "{\"a\":2}")
        .expect("save again");
    assert_eq!(
        open()
            .load_document("simulator/model")
            .expect("load")
            .as_deref(),
        Some("{\"a\":2}")
    );
    // Raised only: a smaller body leaves the stored one (times side by side never go back).
    let (one, other) = (open(), open());
    for (store, body, kept) in [
        (
            &one,
            "2026-12-05T21:00:00.000000Z",
            "2026-12-05T21:00:00.000000Z",
        ),
        (
            &other,
            "2026-12-06T09:00:00.000000Z",
            "2026-12-06T09:00:00.000000Z",
        ),
        (
            &one,
            "2026-12-05T22:00:00.000000Z",
            "2026-12-06T09:00:00.000000Z",
        ),
        (
            &one,
            "2026-12-07T00:00:00.000000Z",
            "2026-12-07T00:00:00.000000Z",
        ),
    ] {
        store
            .raise_document("simulator/clock", body)
            .expect("raise");
        assert_eq!(
            open()
                .load_document("simulator/clock")
                .expect("load")
                .as_deref(),
            Some(kept),
            "after raising to {body}"
        );
    }
}

fn documents_are_listed_by_prefix_and_deleted(open: &dyn Fn() -> StateStore) {
    let store = open();
    for (key, body) in [
        ("outbox/b@1/submitted/0/1", "{\"n\":2}"),
        ("outbox/a@1/submitted/0/1", "{\"n\":1}"),
        ("outboxed", "{}"),
        ("simulator/other", "{}"),
    ] {
        store.save_document(key, body).expect("save");
    }
    let listed = open().documents("outbox/").expect("list");
    assert_eq!(
        listed,
        [
            (
                "outbox/a@1/submitted/0/1".to_owned(),
                "{\"n\":1}".to_owned()
            ),
            (
                "outbox/b@1/submitted/0/1".to_owned(),
                "{\"n\":2}".to_owned()
            ),
        ],
        "by key, with the prefix only"
    );
    // A prefix holding LIKE's wildcards means itself.
    assert!(store.documents("outbox%").expect("list").is_empty());
    store
        .delete_document("outbox/a@1/submitted/0/1")
        .expect("delete");
    store
        .delete_document("no/such/key")
        .expect("deleting nothing");
    let keys: Vec<String> = open()
        .documents("outbox/")
        .expect("list")
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(keys, ["outbox/b@1/submitted/0/1"]);
}

fn waiting_runs_are_those_that_need_a_person(open: &dyn Fn() -> StateStore) {
    let store = open();
    let states = [
        (
            "wait-approval",
            RunState::AwaitingApproval {
                step: "manual".into(),
            },
        ),
        (
            "wait-attention",
            RunState::NeedsAttention {
                step: "start-refresh".into(),
                reason: "lost answer".into(),
            },
        ),
        ("still-running", RunState::Running),
        ("over", RunState::Succeeded),
    ];
    let states_named: Vec<&str> = states.iter().map(|(plan, _)| *plan).collect();
    for (plan, state) in states {
        let Claim::Inserted(mut run) = store
            .insert_run(&run(plan, "2027-03-06T21:00:00Z"))
            .expect("insert")
        else {
            panic!("a new run");
        };
        run.state = state;
        store.update_run(&mut run).expect("update");
    }
    let waiting: Vec<(String, &'static str)> = open()
        .waiting_runs()
        .expect("waiting")
        .into_iter()
        .map(|run| (run.plan.clone(), run.state.name()))
        // (Runs of the suite's other checks may wait too.)
        .filter(|(plan, _)| states_named.contains(&plan.as_str()))
        .collect();
    assert_eq!(
        waiting,
        [
            ("wait-approval".to_owned(), "awaiting-approval"),
            ("wait-attention".to_owned(), "needs-attention"),
        ]
    );
}

fn row(kind: &str, position: i64, body: &str) -> ModelRow {
    ModelRow {
        kind: kind.into(),
        position,
        body: body.into(),
    }
}

/// A simulator model is committed in rows under a compare-and-swap on its version: a commit made
/// on a stale version writes nothing, and a reader catches up with the rows changed since the
/// version it has.
fn models_change_by_compare_and_swap(open: &dyn Fn() -> StateStore) {
    let (one, other) = (open(), open());
    let key = "simulator/conformance";
    assert_eq!(one.load_model(key, None).expect("load"), None);
    let first = [
        row("call", 1, "b"),
        row("call", 0, "a"),
        row("asset", 0, "x"),
    ];
    assert_eq!(
        one.commit_model(key, None, "head-1", &first)
            .expect("commit"),
        Some(1)
    );
    assert_eq!(
        other
            .commit_model(key, None, "lost", &[row("call", 0, "lost")])
            .expect("commit"),
        None,
        "a second first commit is refused"
    );
    // `other` changes the asset and adds a call; `one`, still at version 1, is refused.
    let second = [row("asset", 0, "y"), row("call", 2, "c")];
    assert_eq!(
        other
            .commit_model(key, Some(1), "head-2", &second)
            .expect("commit"),
        Some(2)
    );
    assert_eq!(
        one.commit_model(key, Some(1), "stale", &[row("call", 2, "stale")])
            .expect("commit"),
        None,
        "a commit on a stale version is refused"
    );
    assert_eq!(
        one.commit_model(key, Some(3), "ahead", &[])
            .expect("commit"),
        None,
        "and one on a version that never was"
    );
    assert_eq!(
        open().load_model(key, None).expect("load"),
        Some(ModelRows {
            version: 2,
            head: "head-2".into(),
            rows: vec![
                row("asset", 0, "y"),
                row("call", 0, "a"),
                row("call", 1, "b"),
                row("call", 2, "c"),
            ],
        }),
        "every row at its latest, in order of kind and place; nothing of the refused commits"
    );
    assert_eq!(
        one.load_model(key, Some(1)).expect("load"),
        Some(ModelRows {
            version: 2,
            head: "head-2".into(),
            rows: vec![row("asset", 0, "y"), row("call", 2, "c")],
        }),
        "since version 1: only what version 2 changed"
    );
    assert_eq!(
        one.load_model(key, Some(2)).expect("load"),
        Some(ModelRows {
            version: 2,
            head: "head-2".into(),
            rows: Vec::new(),
        }),
        "up to date: no rows"
    );
    assert_eq!(
        one.commit_model(key, Some(2), "head-3", &[row("call", 3, "d")])
            .expect("commit"),
        Some(3),
        "caught up, the change goes in"
    );
    // `one` is up to date after its own commit; a commit by `other` then is still seen.
    assert_eq!(
        other
            .commit_model(key, Some(3), "head-4", &[row("call", 4, "e")])
            .expect("commit"),
        Some(4)
    );
    assert_eq!(
        one.load_model(key, Some(3)).expect("load"),
        Some(ModelRows {
            version: 4,
            head: "head-4".into(),
            rows: vec![row("call", 4, "e")],
        }),
        "another store's commit after this one's is read"
    );
    assert_eq!(
        one.load_model("simulator/another", None).expect("load"),
        None,
        "models are kept apart by key"
    );
}

fn leases_are_exclusive_and_fenced(open: &dyn Fn() -> StateStore) {
    let store = open();
    let other = open();
    // Runs the earlier checks left active are ended, so only this check's runs are due.
    for mut earlier in store.runs().expect("runs") {
        if !earlier.state.is_finished() {
            earlier.state = RunState::Canceled;
            store.update_run(&mut earlier).expect("cancel");
        }
    }
    let now = at("2027-03-06T21:00:00Z");
    let lease = TimeDelta::minutes(2);
    let mut due = Vec::new();
    for plan in ["lease-a", "lease-b", "lease-c"] {
        let Claim::Inserted(record) = store
            .insert_run(&run(plan, "2027-03-06T21:00:00Z"))
            .expect("insert")
        else {
            panic!("new run");
        };
        due.push(record.id);
    }
    // Runs that are over or wait for an operator are never claimed.
    let Claim::Inserted(mut blocked) = store
        .insert_run(&run("lease-blocked", "2027-03-06T21:00:00Z"))
        .expect("insert")
    else {
        panic!("new run");
    };
    blocked.state = RunState::AwaitingApproval {
        step: "start-refresh".into(),
    };
    store.update_run(&mut blocked).expect("update");
    let first = store
        .claim_due("replica-1", AdapterKind::Lcs, now, lease, 2)
        .expect("claim");
    assert_eq!(first.len(), 2, "at most the limit");
    let second = other
        .claim_due("replica-2", AdapterKind::Lcs, now, lease, 10)
        .expect("claim");
    assert!(
        first
            .iter()
            .chain(&second)
            .all(|claim| claim.taken_over.is_none()),
        "no lease was taken over"
    );
    let first: Vec<RunRecord> = first.into_iter().map(|claim| claim.run).collect();
    let mine: Vec<&str> = first.iter().map(|run| run.id.as_str()).collect();
    let theirs: Vec<&str> = second
        .iter()
        .map(|claim| claim.run.id.as_str())
        .filter(|id| id.starts_with("lease-"))
        .collect();
    assert_eq!(theirs.len(), 1, "the one left: {theirs:?}");
    assert!(
        mine.iter().all(|id| !theirs.contains(id)),
        "no run claimed twice"
    );
    assert!(!mine.contains(&blocked.id.as_str()) && !theirs.contains(&blocked.id.as_str()));
    assert!(
        other
            .claim_due(
                "replica-2",
                AdapterKind::Lcs,
                now + TimeDelta::seconds(30),
                lease,
                10
            )
            .expect("claim")
            .iter()
            .all(|claim| !mine.contains(&claim.run.id.as_str())),
        "a lease that still runs keeps others away"
    );
    assert!(matches!(
        other.claim_run(&first[0].id, "replica-2", now, lease).expect("claim"),
        LeaseOutcome::Held(Lease { owner, until }) if owner == "replica-1" && until == now + lease
    ));
    assert!(
        store
            .heartbeat(&first[0], "replica-1", now + TimeDelta::minutes(1), lease)
            .expect("beat")
    );
    let (taken, later) = a_stalled_holder_is_taken_over(&store, &other, &first[0], now, lease);
    taken_over_runs_are_released_with_a_due_time(open, &store, taken, later, lease);
    assert_eq!(due.len(), 3);
}

/// replica-1 (holding `held` since `now`, extended once a minute later) stalls; its lease runs
/// out and replica-2 takes the run; replica-1 can no longer write, log, extend or release.
fn a_stalled_holder_is_taken_over(
    store: &StateStore,
    other: &StateStore,
    held: &RunRecord,
    now: DateTime<Utc>,
    lease: TimeDelta,
) -> (RunRecord, DateTime<Utc>) {
    let later = now + TimeDelta::minutes(4);
    let LeaseOutcome::Claimed(taken) = other
        .claim_run(&held.id, "replica-2", later, lease)
        .expect("claim")
    else {
        panic!("an expired lease is taken over");
    };
    assert_eq!(
        taken.taken_over,
        Some(Lease {
            owner: "replica-1".into(),
            until: now + TimeDelta::minutes(1) + lease
        }),
        "the claim says whose lease ran out, and when"
    );
    let taken = taken.run;
    assert!(taken.fence > held.fence, "a claim moves the fence on");
    let mut stalled = held.clone();
    stalled.state = RunState::Running;
    assert!(
        matches!(
            store.update_run(&mut stalled),
            Err(StoreError::Conflict { .. })
        ),
        "the stalled replica cannot commit"
    );
    assert!(matches!(
        store.append_fenced_event(held, "log", &serde_json::json!({}), later),
        Err(StoreError::Conflict { .. })
    ));
    assert!(
        !store
            .heartbeat(held, "replica-1", later, lease)
            .expect("beat"),
        "nor extend"
    );
    store
        .release(held, None)
        .expect("a stale release changes nothing");
    (taken, later)
}

fn taken_over_runs_are_released_with_a_due_time(
    open: &dyn Fn() -> StateStore,
    store: &StateStore,
    mut taken: RunRecord,
    later: DateTime<Utc>,
    lease: TimeDelta,
) {
    let other = open();
    let now = at("2027-03-06T21:00:00Z");
    taken.state = RunState::Accepted;
    other
        .update_run(&mut taken)
        .expect("the new holder commits");
    other
        .append_fenced_event(
            &taken,
            "log",
            &serde_json::json!({ "by": "replica-2" }),
            later,
        )
        .expect("and logs");
    let window = at("2027-03-06T21:00:00Z");
    other
        .release(&taken, Some(window + TimeDelta::hours(1)))
        .expect("release");
    assert!(
        store
            .claim_due("replica-1", AdapterKind::Lcs, later, lease, 10)
            .expect("claim")
            .iter()
            .all(|claim| claim.run.id != taken.id),
        "a released run is not due before its time"
    );
    let next = store.next_due(AdapterKind::Lcs).expect("next due");
    assert!(next.is_some_and(|next| next <= later + lease), "{next:?}");
    let due_later = store
        .claim_due(
            "replica-1",
            AdapterKind::Lcs,
            window + TimeDelta::hours(1),
            lease,
            10,
        )
        .expect("claim");
    assert!(
        due_later
            .iter()
            .any(|claim| claim.run.id == taken.id && claim.taken_over.is_none()),
        "due at its time"
    );
    assert_eq!(
        open()
            .claim_run("no-such-run@20270306T2100Z", "x", now, lease)
            .expect("claim"),
        LeaseOutcome::NotFound
    );
}

/// Runs never released (no due time) come first, then by due time, then by id, whatever
/// active state each is in; a claim of `limit` takes the first that many.
fn due_runs_are_claimed_earliest_first_across_states(open: &dyn Fn() -> StateStore) {
    let store = open();
    let now = at("2027-04-10T12:00:00Z");
    let lease = TimeDelta::minutes(5);
    let adapter = AdapterKind::PowerPlatform;
    // (plan, state, due time relative to now in minutes; None: never released)
    let runs = [
        ("due-b", RunState::Accepted, Some(-60)),
        ("due-a", RunState::Running, Some(-120)),
        ("due-new", RunState::Submitted, None),
        ("due-c", RunState::Submitted, Some(-120)),
        ("due-later", RunState::Running, Some(30)),
        ("due-d", RunState::Running, Some(-1)),
    ];
    for (plan, state, due) in &runs {
        let mut record = run(plan, "2027-04-10T09:00:00Z");
        record.adapter = Some(adapter);
        record.target = format!("1234567/{plan}");
        let Claim::Inserted(mut record) = store.insert_run(&record).expect("insert") else {
            panic!("new run");
        };
        record.state = state.clone();
        store.update_run(&mut record).expect("update");
        if let Some(minutes) = due {
            let LeaseOutcome::Claimed(claimed) = store
                .claim_run(&record.id, "setup", now - TimeDelta::days(1), lease)
                .expect("claim")
            else {
                panic!("{plan} is not held");
            };
            store
                .release(&claimed.run, Some(now + TimeDelta::minutes(*minutes)))
                .expect("release");
        }
    }
    // A batch is advanced side by side: its order within is not the store's to keep.
    let ours = |claimed: Vec<refreshctl::state::Claimed>| -> Vec<String> {
        let mut plans: Vec<String> = claimed
            .into_iter()
            .map(|claim| claim.run.plan)
            .filter(|plan| plan.starts_with("due-"))
            .collect();
        plans.sort();
        plans
    };
    let claimed = store
        .claim_due("replica", adapter, now, lease, 2)
        .expect("claim");
    let held: Vec<RunRecord> = claimed.iter().map(|claim| claim.run.clone()).collect();
    assert_eq!(
        ours(claimed),
        ["due-a", "due-new"],
        "never released, then the earliest by id"
    );
    let rest = ours(
        open()
            .claim_due("replica", adapter, now, lease, 10)
            .expect("claim"),
    );
    assert_eq!(
        rest,
        ["due-b", "due-c", "due-d"],
        "the rest that are due, none twice"
    );
    // Released together, each with its own due time (the others are still held).
    let (soon, later) = (now + TimeDelta::minutes(3), now + TimeDelta::hours(2));
    store
        .release_all(&[(&held[0], Some(soon)), (&held[1], Some(later))])
        .expect("release");
    let at_soon = ours(
        open()
            .claim_due("other", adapter, soon, lease, 10)
            .expect("claim"),
    );
    assert_eq!(
        at_soon,
        [held[0].plan.clone()],
        "the first is due at its time only"
    );
}

fn occurrences_are_decided_once(open: &dyn Fn() -> StateStore) {
    let store = open();
    let start = at("2027-04-03T21:00:00Z");
    let record = run("scheduled", "2027-04-03T21:00:00Z");
    let occurrence = OccurrenceRecord {
        adapter: Some(AdapterKind::Lcs),
        plan: "scheduled".into(),
        window_start: start,
        run: record.id.clone(),
        skipped: None,
        decided: start - TimeDelta::days(2),
    };
    assert_eq!(
        store
            .decide_occurrence(&occurrence, Some(&record))
            .expect("decide"),
        Some(record.id.clone())
    );
    assert_eq!(
        open()
            .decide_occurrence(&occurrence, Some(&record))
            .expect("decide"),
        None,
        "a second replica finds it decided"
    );
    let stored = store
        .run(&record.id)
        .expect("read")
        .expect("the run was inserted with it");
    assert_eq!(stored.version, 1);
    let skipped = OccurrenceRecord {
        adapter: Some(AdapterKind::Lcs),
        plan: "scheduled".into(),
        window_start: start + TimeDelta::days(7),
        run: RunRecord::id_for("scheduled", start + TimeDelta::days(7)),
        skipped: Some("submission missed".into()),
        decided: start + TimeDelta::days(6) + TimeDelta::hours(2),
    };
    assert_eq!(
        store.decide_occurrence(&skipped, None).expect("decide"),
        Some(skipped.run.clone())
    );
    assert_eq!(
        store.run(&skipped.run).expect("read"),
        None,
        "a skipped occurrence has no run"
    );
    let decided: Vec<OccurrenceRecord> = open()
        .occurrences()
        .expect("list")
        .into_iter()
        .filter(|item| item.plan == "scheduled")
        .collect();
    assert_eq!(decided, [occurrence, skipped]);
}

fn skips_are_decided_once_in_a_batch(open: &dyn Fn() -> StateStore) {
    let store = open();
    let start = at("2027-04-10T21:00:00Z");
    let skip = |plan: &str, adapter: Option<AdapterKind>, days: i64| {
        let window_start = start + TimeDelta::days(days);
        OccurrenceRecord {
            adapter,
            plan: plan.into(),
            window_start,
            run: RunRecord::id_for(plan, window_start),
            skipped: Some(format!("missed by {days} day(s)")),
            decided: window_start - TimeDelta::hours(2),
        }
    };
    // Decided before, one by one: for this adapter, and (no adapter) for every adapter.
    let earlier = skip("batched-a", Some(AdapterKind::Lcs), 0);
    let legacy = skip("batched-b", None, 0);
    store.decide_occurrence(&earlier, None).expect("decide");
    store.decide_occurrence(&legacy, None).expect("decide");
    let batch = [
        skip("batched-a", Some(AdapterKind::Lcs), 0),
        skip("batched-a", Some(AdapterKind::Lcs), 7),
        skip("batched-b", Some(AdapterKind::Lcs), 0),
        skip("batched-b", Some(AdapterKind::Lcs), 7),
        // Another adapter's schedule is its own.
        skip("batched-a", Some(AdapterKind::Simulator), 0),
    ];
    assert_eq!(
        store.decide_skipped(&batch).expect("decide"),
        [false, true, false, true, true]
    );
    assert_eq!(
        open().decide_skipped(&batch).expect("decide again"),
        [false; 5],
        "a second replica finds every one decided"
    );
    assert_eq!(
        store.decide_skipped(&[]).expect("nothing"),
        Vec::<bool>::new()
    );
    for decided in &batch {
        assert_eq!(
            store.run(&decided.run).expect("read"),
            None,
            "a skip has no run"
        );
    }
    let mut decided: Vec<OccurrenceRecord> = open()
        .occurrences()
        .expect("list")
        .into_iter()
        .filter(|item| item.plan.starts_with("batched-"))
        .collect();
    decided.sort_by_key(|item| {
        (
            item.plan.clone(),
            item.window_start,
            item.adapter.map(AdapterKind::name),
        )
    });
    let mut expected = vec![
        earlier,
        legacy,
        batch[1].clone(),
        batch[3].clone(),
        batch[4].clone(),
    ];
    expected.sort_by_key(|item| {
        (
            item.plan.clone(),
            item.window_start,
            item.adapter.map(AdapterKind::name),
        )
    });
    assert_eq!(decided, expected);
    let marks = open()
        .see_plans(AdapterKind::Lcs, &["batched-a"], start)
        .expect("see");
    assert_eq!(
        marks["batched-a"].latest_decided,
        Some(start + TimeDelta::days(7)),
        "the schedule goes on after the batch"
    );
}

fn plans_are_first_seen_once(open: &dyn Fn() -> StateStore) {
    let store = open();
    let first = at("2027-05-01T00:00:00Z");
    let marks = store
        .see_plans(AdapterKind::Lcs, &["seen-a", "seen-b"], first)
        .expect("see");
    assert_eq!(marks["seen-a"].first_seen, first);
    assert_eq!(marks["seen-a"].latest_decided, None);
    let later = first + TimeDelta::days(1);
    store
        .decide_occurrence(
            &OccurrenceRecord {
                adapter: Some(AdapterKind::Lcs),
                plan: "seen-b".into(),
                window_start: later,
                run: RunRecord::id_for("seen-b", later),
                skipped: Some("missed".into()),
                decided: later,
            },
            None,
        )
        .expect("decide");
    let marks = open()
        .see_plans(AdapterKind::Lcs, &["seen-a", "seen-c"], later)
        .expect("see");
    assert_eq!(
        marks["seen-a"].first_seen, first,
        "the first sighting stays"
    );
    assert_eq!(marks["seen-c"].first_seen, later);
    assert_eq!(marks["seen-b"].latest_decided, Some(later));
}

/// A rehearsal (the simulator) and a real adapter on one store: neither's run of a window
/// stands for the other's, each takes its own lock, claims only its own runs and decides its
/// own occurrences; the store says which real adapters it has seen.
fn rehearsals_and_real_runs_never_stand_for_each_other(open: &dyn Fn() -> StateStore) {
    let store = open();
    assert!(
        store
            .real_adapters()
            .expect("adapters")
            .contains(&"lcs".to_owned()),
        "the runs above were lcs runs"
    );
    let start = "2027-06-05T21:00:00Z";
    let mut rehearsal = run("mixed", start);
    rehearsal.adapter = Some(AdapterKind::Simulator);
    let Claim::Inserted(rehearsal) = store.insert_run(&rehearsal).expect("insert") else {
        panic!("the rehearsal is new");
    };
    assert_eq!(rehearsal.id, "mixed@20270605T2100Z");
    let real = run("mixed", start);
    let Claim::Inserted(real) = open().insert_run(&real).expect("insert") else {
        panic!("a rehearsal of the window does not stand for the real run");
    };
    assert_eq!(
        real.id, "mixed@20270605T2100Z~2",
        "the next id of the window"
    );
    assert_eq!(real.adapter, Some(AdapterKind::Lcs));
    match store.insert_run(&run("mixed", start)).expect("insert") {
        Claim::Existing(existing) => assert_eq!(existing.id, real.id, "idempotent for lcs"),
        Claim::Inserted(other) => panic!("a second real run {}", other.id),
    }
    let mut again = run("mixed", start);
    again.adapter = Some(AdapterKind::Simulator);
    match store.insert_run(&again).expect("insert") {
        Claim::Existing(existing) => assert_eq!(existing.id, rehearsal.id),
        Claim::Inserted(other) => panic!("the real run stood aside for {}", other.id),
    }
    // Locks are per adapter.
    assert_eq!(
        store
            .lock(&rehearsal.lock_key(), &rehearsal.id, at(start))
            .expect("lock"),
        LockOutcome::Acquired
    );
    assert_eq!(
        store
            .lock(&real.lock_key(), &real.id, at(start))
            .expect("lock"),
        LockOutcome::Acquired,
        "a rehearsal never holds the real target"
    );
    store
        .unlock(&rehearsal.lock_key(), &rehearsal.id)
        .expect("unlock");
    store.unlock(&real.lock_key(), &real.id).expect("unlock");
    // Each adapter claims its own runs.
    let now = at(start);
    let lease = TimeDelta::minutes(2);
    let rehearsed: Vec<String> = store
        .claim_due("rehearsal", AdapterKind::Simulator, now, lease, 100)
        .expect("claim")
        .into_iter()
        .map(|claim| claim.run.id)
        .collect();
    assert!(rehearsed.contains(&rehearsal.id), "{rehearsed:?}");
    assert!(
        !rehearsed.contains(&real.id),
        "a rehearsal tick never claims a real run: {rehearsed:?}"
    );
    // A run that did not record its adapter may be a real one: only a real adapter claims it.
    let mut legacy = run("legacy", start);
    legacy.adapter = None;
    let Claim::Inserted(legacy) = store.insert_run(&legacy).expect("insert") else {
        panic!("new run");
    };
    let claimed = |adapter| -> Vec<String> {
        store
            .claim_due("anyone", adapter, now, lease, 100)
            .expect("claim")
            .into_iter()
            .map(|claim| claim.run.id)
            .collect()
    };
    assert!(!claimed(AdapterKind::Simulator).contains(&legacy.id));
    assert!(claimed(AdapterKind::Lcs).contains(&legacy.id));
    each_adapter_decides_its_own_occurrences(open);
}

/// Each adapter decides its own occurrences, and sees plans for itself.
fn each_adapter_decides_its_own_occurrences(open: &dyn Fn() -> StateStore) {
    let store = open();
    let window = at("2027-06-12T21:00:00Z");
    let mut planned = run("mixed", "2027-06-12T21:00:00Z");
    planned.adapter = Some(AdapterKind::Simulator);
    let occurrence = |adapter| OccurrenceRecord {
        adapter: Some(adapter),
        plan: "mixed".into(),
        window_start: window,
        run: planned.id.clone(),
        skipped: None,
        decided: window - TimeDelta::days(2),
    };
    let rehearsed = store
        .decide_occurrence(&occurrence(AdapterKind::Simulator), Some(&planned))
        .expect("decide");
    assert_eq!(rehearsed.as_deref(), Some("mixed@20270612T2100Z"));
    let mut planned_real = planned.clone();
    planned_real.adapter = Some(AdapterKind::Lcs);
    let decided = open()
        .decide_occurrence(&occurrence(AdapterKind::Lcs), Some(&planned_real))
        .expect("decide");
    assert_eq!(
        decided.as_deref(),
        Some("mixed@20270612T2100Z~2"),
        "a rehearsed occurrence is still to decide for lcs, under the next id"
    );
    let first = at("2027-06-01T00:00:00Z");
    store
        .see_plans(
            AdapterKind::Simulator,
            &["mixed"],
            first + TimeDelta::days(300),
        )
        .expect("see");
    let marks = store
        .see_plans(AdapterKind::Lcs, &["mixed"], first)
        .expect("see");
    assert_eq!(
        marks["mixed"].first_seen, first,
        "a rehearsal's sighting far ahead does not move the real schedule's"
    );
    assert_eq!(marks["mixed"].latest_decided, Some(window));
}
