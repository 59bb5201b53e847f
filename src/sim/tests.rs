//! The model's state machines through time, and every refusal LCS would give.

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::plan::EnvironmentType;

const PROJECT: u64 = 1_234_567;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("time").to_utc()
}

fn t0() -> DateTime<Utc> {
    at("2026-12-05T21:00:00Z")
}

/// A model with production and a sandbox whose ids are their names, so calls read plainly (the
/// API takes ids; `ids_are_matched_as_lcs_matches_them` covers GUIDs).
fn model(faults: Faults) -> (Lcs, String, String) {
    let mut lcs = Lcs::new(Durations::default(), faults, t0() - TimeDelta::days(1));
    let prod = lcs.add_environment(
        PROJECT,
        "contoso-prod",
        EnvironmentType::Production,
        "10.0.41",
        Some("contoso-prod"),
    );
    let uat = lcs.add_environment(
        PROJECT,
        "contoso-uat",
        EnvironmentType::Sandbox,
        "10.0.41",
        Some("contoso-uat"),
    );
    (lcs, prod, uat)
}

#[test]
fn refresh_moves_not_started_in_progress_completed() {
    let (mut lcs, _, uat) = model(Faults::default());
    let activity = lcs
        .start_refresh(PROJECT, "contoso-prod", "contoso-uat", t0())
        .expect("starts");
    let durations = lcs.durations;
    let status = |lcs: &mut Lcs, after: TimeDelta| {
        lcs.database_status(&uat, &activity, t0() + after)
            .expect("status")
    };
    assert_eq!(
        status(&mut lcs, TimeDelta::zero()),
        DatabaseStatus::NotStarted
    );
    assert_eq!(
        status(&mut lcs, durations.queue),
        DatabaseStatus::InProgress
    );
    assert!(lcs.is_busy(&uat, t0() + durations.queue));
    let done = durations.queue + durations.refresh;
    assert_eq!(
        status(&mut lcs, done - TimeDelta::seconds(1)),
        DatabaseStatus::InProgress
    );
    assert_eq!(status(&mut lcs, done), DatabaseStatus::Completed);
    assert!(!lcs.is_busy(&uat, t0() + done));
    assert_eq!(lcs.destructive_calls().count(), 1);
}

#[test]
fn failing_refresh_fault() {
    let (mut lcs, _, uat) = model(Faults {
        refresh_fails: true,
        ..Faults::default()
    });
    let activity = lcs
        .start_refresh(PROJECT, "contoso-prod", "contoso-uat", t0())
        .expect("starts");
    let status = lcs
        .database_status(&uat, &activity, t0() + TimeDelta::days(1))
        .expect("status");
    assert_eq!(status, DatabaseStatus::Failed);
}

#[test]
fn refusals_are_business_errors() {
    let (mut lcs, _, _) = model(Faults::default());
    let business = |result: Result<String, SimError>| match result {
        Err(SimError::Business(message)) => message,
        other => panic!("expected a business error, got {other:?}"),
    };
    let message = business(lcs.start_refresh(PROJECT, "contoso-uat", "contoso-prod", t0()));
    assert!(message.contains("production"), "{message}");
    let message = business(lcs.start_refresh(PROJECT, "contoso-uat", "contoso-uat", t0()));
    assert!(message.contains("same"), "{message}");
    lcs.add_environment(
        PROJECT,
        "contoso-old",
        EnvironmentType::Sandbox,
        "10.0.40",
        Some("contoso-old"),
    );
    let message = business(lcs.start_refresh(PROJECT, "contoso-prod", "contoso-old", t0()));
    assert!(message.contains("same application release"), "{message}");
    assert!(matches!(
        lcs.start_refresh(PROJECT, "contoso-prod", "nowhere", t0()),
        Err(SimError::NotFound { .. })
    ));
    assert_eq!(
        lcs.destructive_calls().count(),
        0,
        "refused calls change nothing"
    );
}

#[test]
fn a_busy_environment_refuses_a_second_operation() {
    let (mut lcs, _, _) = model(Faults::default());
    lcs.start_refresh(PROJECT, "contoso-prod", "contoso-uat", t0())
        .expect("first");
    let second = lcs.start_refresh(
        PROJECT,
        "contoso-prod",
        "contoso-uat",
        t0() + TimeDelta::minutes(30),
    );
    assert!(matches!(second, Err(SimError::Business(message)) if message.contains("busy")));
}

#[test]
fn three_operations_per_24_hours() {
    let (mut lcs, _, uat) = model(Faults::default());
    let spacing = TimeDelta::hours(2);
    for index in 0..3 {
        lcs.start_refresh(
            PROJECT,
            "contoso-prod",
            "contoso-uat",
            t0() + spacing * index,
        )
        .expect("within the limit");
    }
    assert_eq!(lcs.operations_left(&uat, t0() + spacing * 3), 0);
    let fourth = lcs.start_refresh(PROJECT, "contoso-prod", "contoso-uat", t0() + spacing * 3);
    let Err(SimError::Business(message)) = fourth else {
        panic!("the fourth must be refused: {fourth:?}");
    };
    assert_eq!(
        message,
        "Maximum allowed API operations are 3 from 2026-12-05T21:00:00.0000000"
    );
    let next_day = t0() + TimeDelta::hours(24);
    lcs.start_refresh(PROJECT, "contoso-prod", "contoso-uat", next_day)
        .expect("the first one left the 24 hours");
}

#[test]
fn throttling_answers_first_then_lets_calls_through() {
    let (mut lcs, _, _) = model(Faults {
        throttled_calls: 2,
        ..Faults::default()
    });
    for _ in 0..2 {
        assert_eq!(
            lcs.environment(PROJECT, "contoso-uat"),
            Err(SimError::Throttled { retry_after: 5 })
        );
    }
    assert_eq!(
        lcs.environment(PROJECT, "CONTOSO-UAT").map(|e| e.name),
        Ok("contoso-uat".into())
    );
}

#[test]
fn upload_commit_validate_and_deploy() {
    let (mut lcs, _, uat) = model(Faults::default());
    let shared = lcs
        .shared_assets(SOFTWARE_DEPLOYABLE_PACKAGE)
        .expect("shared");
    assert_eq!(shared[0].name, "Environment reprovisioning tool");
    let asset = lcs
        .create_file_asset(
            PROJECT,
            "Environment reprovisioning tool",
            "erp.zip",
            10,
            t0(),
        )
        .expect("created");
    assert_eq!(
        lcs.validation_status(&asset, t0()),
        Ok(ValidationStatus::Unknown)
    );
    assert!(
        matches!(
            lcs.commit_file_asset(&asset, t0()),
            Err(SimError::Business(_))
        ),
        "nothing uploaded yet"
    );
    lcs.put_block(&asset, "AAAA", 4_000_000, t0())
        .expect("block");
    lcs.put_block(&asset, "AAAB", 1_000, t0()).expect("block");
    assert!(
        lcs.put_block_list(&asset, &["AAAA".into(), "ZZZZ".into()], t0())
            .is_err()
    );
    lcs.put_block_list(&asset, &["AAAA".into(), "AAAB".into()], t0())
        .expect("list");
    lcs.commit_file_asset(&asset, t0()).expect("commit");
    let validation = lcs.durations.validation;
    assert_eq!(
        lcs.validation_status(&asset, t0() + validation / 2),
        Ok(ValidationStatus::Process)
    );
    let early = lcs.apply_update(PROJECT, "contoso-uat", &asset, "ERP", t0() + validation / 2);
    assert!(matches!(early, Err(SimError::Business(message)) if message.contains("not validated")));
    let ready = t0() + validation;
    assert_eq!(
        lcs.validation_status(&asset, ready),
        Ok(ValidationStatus::Done)
    );
    assert!(matches!(
        lcs.apply_update(PROJECT, "contoso-uat", &asset, " ", ready),
        Err(SimError::Business(message)) if message.contains("update name")
    ));
    assert!(
        lcs.apply_update(PROJECT, "contoso-prod", &asset, "ERP", ready)
            .is_err()
    );
    let activity = lcs
        .apply_update(PROJECT, "contoso-uat", &asset, "ERP", ready)
        .expect("deploys");
    let durations = lcs.durations;
    let status = |lcs: &mut Lcs, after: TimeDelta| {
        lcs.deployment_status_of(&uat, &activity, ready + after)
            .expect("status")
    };
    assert_eq!(
        status(&mut lcs, TimeDelta::zero()),
        DeploymentStatus::NotStarted
    );
    assert_eq!(
        status(&mut lcs, durations.queue),
        DeploymentStatus::PreparingEnvironment
    );
    assert_eq!(
        status(&mut lcs, durations.queue + durations.preparation),
        DeploymentStatus::InProgress
    );
    assert_eq!(
        status(&mut lcs, durations.queue + durations.deployment),
        DeploymentStatus::Completed
    );
    assert_eq!(lcs.history(&uat)[0].name, "ERP");
}

#[test]
fn rejected_asset_and_failing_deployment_faults() {
    let (mut lcs, _, _) = model(Faults {
        asset_rejected: true,
        ..Faults::default()
    });
    let asset = lcs
        .create_file_asset(PROJECT, "a", "a.zip", 10, t0())
        .expect("asset");
    lcs.put_block(&asset, "AAAA", 10, t0()).expect("block");
    lcs.put_block_list(&asset, &["AAAA".into()], t0())
        .expect("list");
    lcs.commit_file_asset(&asset, t0()).expect("commit");
    assert_eq!(
        lcs.validation_status(&asset, t0() + TimeDelta::hours(1)),
        Ok(ValidationStatus::Failed)
    );

    let (mut lcs, _, uat) = model(Faults {
        deployment_fails: true,
        ..Faults::default()
    });
    let asset = lcs
        .create_file_asset(PROJECT, "a", "a.zip", 10, t0())
        .expect("asset");
    lcs.put_block(&asset, "AAAA", 10, t0()).expect("block");
    lcs.put_block_list(&asset, &["AAAA".into()], t0())
        .expect("list");
    lcs.commit_file_asset(&asset, t0()).expect("commit");
    let ready = t0() + TimeDelta::hours(1);
    let activity = lcs
        .apply_update(PROJECT, "contoso-uat", &asset, "a", ready)
        .expect("deploys");
    assert_eq!(
        lcs.deployment_status_of(&uat, &activity, ready + TimeDelta::days(1)),
        Ok(DeploymentStatus::Failed)
    );
}

#[test]
fn the_model_round_trips_through_json() {
    let (mut lcs, _, _) = model(Faults::default());
    lcs.start_refresh(PROJECT, "contoso-prod", "contoso-uat", t0())
        .expect("starts");
    let stored = serde_json::to_string(&lcs).expect("serializes");
    let mut restored: Lcs = serde_json::from_str(&stored).expect("deserializes");
    assert_eq!(restored, lcs);
    let next = restored
        .create_file_asset(PROJECT, "x", "x.zip", 10, t0())
        .expect("asset");
    let again = lcs
        .create_file_asset(PROJECT, "x", "x.zip", 10, t0())
        .expect("asset");
    assert_eq!(next, again, "ids continue where the stored model left off");
}

#[test]
fn restore_refuses_a_point_in_the_future() {
    let (mut lcs, _, uat) = model(Faults::default());
    assert!(
        lcs.start_restore(
            PROJECT,
            "contoso-uat",
            Some(t0() + TimeDelta::hours(1)),
            t0()
        )
        .is_err()
    );
    let activity = lcs
        .start_restore(
            PROJECT,
            "contoso-uat",
            Some(t0() - TimeDelta::hours(6)),
            t0(),
        )
        .expect("restores");
    assert_eq!(lcs.history(&uat)[0].activity, activity);
    assert_eq!(lcs.history(&uat)[0].name, "Point-in-time restore");
}

#[test]
fn dotnet_times_have_seven_fractional_digits() {
    let time = at("2019-09-30T04:01:01.9999999Z");
    assert_eq!(dotnet_time(time), "2019-09-30T04:01:01.9999999");
    assert_eq!(dotnet_time(t0()), "2026-12-05T21:00:00.0000000");
}

#[test]
fn financial_reporting_reset_is_recorded_and_waits_for_a_quiet_environment() {
    let (mut lcs, _, uat) = model(Faults::default());
    lcs.start_refresh(PROJECT, "contoso-prod", "contoso-uat", t0())
        .expect("starts");
    assert!(matches!(
        lcs.reset_financial_reporting(PROJECT, "contoso-uat", t0() + TimeDelta::minutes(10)),
        Err(SimError::Business(message)) if message.contains("busy")
    ));
    lcs.reset_financial_reporting(PROJECT, "contoso-uat", t0() + TimeDelta::days(1))
        .expect("after the refresh");
    assert_eq!(
        lcs.calls.last().map(|record| &record.call),
        Some(&Call::ResetFinancialReporting { environment: uat })
    );
}

#[test]
fn ids_are_matched_as_lcs_matches_them() {
    let mut lcs = Lcs::new(Durations::default(), Faults::default(), t0());
    let prod = lcs.add_environment(
        PROJECT,
        "contoso-prod",
        EnvironmentType::Production,
        "10.0.41",
        None,
    );
    let uat = lcs.add_environment(
        PROJECT,
        "contoso-uat",
        EnvironmentType::Sandbox,
        "10.0.41",
        None,
    );
    assert!(same_id(&uat, &uat.to_ascii_uppercase()));
    assert!(same_id(&uat, &uat.replace('-', "")));
    assert!(same_id(&format!("{{{uat}}}"), &uat));
    assert!(!same_id(&uat, &prod));
    assert!(!same_id("contoso-uat", "CONTOSO-UAT"), "names are not ids");
    // A name where LCS takes an id is not found, in every call that takes one.
    assert!(matches!(
        lcs.start_refresh(PROJECT, "contoso-prod", &uat, t0()),
        Err(SimError::NotFound { .. })
    ));
    assert!(matches!(
        lcs.start_export(PROJECT, "contoso-uat", "copy", t0()),
        Err(SimError::NotFound { .. })
    ));
    let activity = lcs
        .start_refresh(
            PROJECT,
            &prod.to_ascii_uppercase(),
            &uat.replace('-', ""),
            t0(),
        )
        .expect("ids in any case and form");
    assert_eq!(
        lcs.database_status(
            &uat.to_ascii_uppercase(),
            &activity.to_ascii_uppercase(),
            t0()
        ),
        Ok(DatabaseStatus::NotStarted)
    );
    assert!(matches!(
        lcs.database_status("contoso-uat", &activity, t0()),
        Err(SimError::NotFound { .. })
    ));
    assert_eq!(lcs.history(&uat.to_ascii_uppercase()).len(), 1);
}

#[test]
fn validation_is_process_from_commit_until_it_is_settled() {
    let (mut lcs, _, _) = model(Faults::default());
    let asset = lcs
        .create_file_asset(PROJECT, "pkg", "pkg.zip", 10, t0())
        .expect("asset");
    assert_eq!(
        lcs.validation_status(&asset, t0()),
        Ok(ValidationStatus::Unknown),
        "not committed: validation has not started"
    );
    lcs.put_block(&asset, "AAAA", 10, t0()).expect("block");
    lcs.put_block_list(&asset, &["AAAA".into()], t0())
        .expect("list");
    lcs.commit_file_asset(&asset, t0()).expect("commit");
    let validation = lcs.durations.validation;
    // Every moment before it is done reads `Process`, the value d365fo.tools waits on.
    for seconds in (0..validation.num_seconds()).step_by(15) {
        assert_eq!(
            lcs.validation_status(&asset, t0() + TimeDelta::seconds(seconds)),
            Ok(ValidationStatus::Process),
            "{seconds} s after commit"
        );
    }
    assert_eq!(
        lcs.validation_status(&asset.to_ascii_uppercase(), t0() + validation),
        Ok(ValidationStatus::Done)
    );
}

#[test]
fn an_update_name_is_required_exactly_on_self_service_environments() {
    let (mut lcs, _, _) = model(Faults::default());
    lcs.add_environment(
        PROJECT,
        "legacy-uat",
        EnvironmentType::Sandbox,
        "10.0.41",
        Some("legacy-uat"),
    );
    lcs.environments
        .iter_mut()
        .find(|environment| environment.id == "legacy-uat")
        .expect("added")
        .infrastructure = Infrastructure::MicrosoftManaged;
    let asset = lcs
        .create_file_asset(PROJECT, "pkg", "pkg.zip", 10, t0())
        .expect("asset");
    lcs.put_block(&asset, "AAAA", 10, t0()).expect("block");
    lcs.put_block_list(&asset, &["AAAA".into()], t0())
        .expect("list");
    lcs.commit_file_asset(&asset, t0()).expect("commit");
    let ready = t0() + lcs.durations.validation;
    assert!(matches!(
        lcs.apply_update(PROJECT, "contoso-uat", &asset, "", ready),
        Err(SimError::Business(message)) if message.contains("self-service")
    ));
    let activity = lcs
        .apply_update(PROJECT, "legacy-uat", &asset, "", ready)
        .expect("Microsoft-managed: no name needed");
    let end = ready + lcs.durations.queue + lcs.durations.deployment;
    assert_eq!(
        lcs.deployment("legacy-uat", &activity, end - TimeDelta::seconds(1)),
        Ok((DeploymentStatus::InProgress, None))
    );
    assert_eq!(
        lcs.deployment("legacy-uat", &activity, end + TimeDelta::hours(1)),
        Ok((DeploymentStatus::Completed, Some(end))),
        "CompletionDate is when it ended, not when it was asked"
    );
}

#[test]
fn an_export_lists_its_backup_once_completed_and_counts_toward_the_limit() {
    let (mut lcs, _, uat) = model(Faults::default());
    assert!(matches!(
        lcs.start_export(PROJECT, "contoso-prod", "prod-copy", t0()),
        Err(SimError::Business(message)) if message.contains("sandbox")
    ));
    assert!(matches!(
        lcs.start_export(PROJECT, &uat, " ", t0()),
        Err(SimError::Business(message)) if message.contains("backup name")
    ));
    let activity = lcs
        .start_export(PROJECT, &uat, "uat-before-refresh", t0())
        .expect("exports");
    assert!(lcs.is_busy(&uat, t0() + TimeDelta::minutes(30)));
    assert!(lcs.database_backups(PROJECT, t0()).is_empty());
    let end = t0() + lcs.durations.queue + lcs.durations.export;
    assert_eq!(
        lcs.database_operation(&uat, &activity, end),
        Ok((DatabaseStatus::Completed, Some(end)))
    );
    let backups = lcs.database_backups(PROJECT, end);
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0].file_name, "uat-before-refresh.bacpac");
    assert_eq!(backups[0].environment, uat);
    assert_eq!(backups[0].created, end);
    assert_eq!(lcs.history(&uat)[0].name, "Database export");
    assert_eq!(lcs.operations_left(&uat, end), 2);
    lcs.start_export(PROJECT, &uat, "second", end).expect("2");
    let later = end + lcs.durations.queue + lcs.durations.export;
    lcs.start_refresh(PROJECT, "contoso-prod", &uat, later)
        .expect("3: a refresh after two exports");
    let next = later + TimeDelta::hours(3);
    assert!(matches!(
        lcs.start_export(PROJECT, &uat, "fourth", next),
        Err(SimError::Business(message)) if message.starts_with("Maximum allowed API operations are 3")
    ));
}
