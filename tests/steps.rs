//! The executor runs exactly the step ids that `plan` previews.

mod common;

use std::path::Path;

use refreshctl::plan::{Action, AssetSource, Plan, UploadSource};
use refreshctl::rules::{Catalog, CheckSettings, check_file};

fn load(path: &str) -> Plan {
    let bytes = std::fs::read(path).expect("plan");
    let settings = CheckSettings {
        now: chrono::DateTime::parse_from_rfc3339(common::NOW)
            .expect("now")
            .to_utc(),
        catalog: Catalog::embedded(),
        adapter: None,
    };
    check_file(path, Path::new(path), &bytes, &settings)
        .plan
        .expect("the plan resolves")
}

fn assert_same_ids(plan: &Plan) {
    let outline: Vec<String> = plan
        .step_outline()
        .into_iter()
        .map(|step| step.id)
        .collect();
    let run: Vec<String> = plan.run_steps().into_iter().map(|step| step.id).collect();
    assert_eq!(run, outline, "{}", plan.name());
}

#[test]
fn every_example_plan_runs_the_steps_it_previews() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/plans")).expect("plans") {
        let path = entry.expect("entry").path();
        if path
            .extension()
            .is_some_and(|extension| extension == "yaml")
        {
            assert_same_ids(&load(path.to_str().expect("utf-8")));
        }
    }
}

#[test]
fn repeated_kinds_link_their_own_steps() {
    let (_directory, path) = common::temp_plan(|clean| {
        clean
            + "  - deploy: {file: a.zip, name: first}\n  - deploy: {asset: 3a20}\n  - reprovision: {file: erp.zip}\n  - command: {run: [\"true\"]}\n  - command: {run: [\"echo\", \"{{ run.id }}\"], timeout: 5m}\n"
    });
    let plan = load(&path);
    assert_same_ids(&plan);
    let steps = plan.run_steps();
    let action = |id: &str| {
        steps
            .iter()
            .find(|step| step.id == id)
            .map_or_else(|| panic!("no step {id}"), |step| step.action.clone())
    };
    assert_eq!(
        action("reprovision.upload"),
        Action::Upload {
            file: UploadSource::Downloaded("reprovision.download".into()),
            name: "Environment reprovisioning tool".into()
        }
    );
    assert_eq!(
        action("deploy.apply"),
        Action::ApplyUpdate {
            asset: AssetSource::Uploaded("deploy.upload".into()),
            update_name: "first".into()
        }
    );
    assert_eq!(
        action("deploy#2.apply"),
        Action::ApplyUpdate {
            asset: AssetSource::Existing("3a20".into()),
            update_name: "asset 3a20".into()
        }
    );
    assert_eq!(
        action("deploy#2.monitor"),
        Action::MonitorDeployment {
            apply_step: "deploy#2.apply".into()
        }
    );
    assert_eq!(
        action("reprovision#2.upload"),
        Action::Upload {
            file: UploadSource::Local("erp.zip".into()),
            name: "Environment reprovisioning tool".into()
        }
    );
    assert!(matches!(
        action("command#2"),
        Action::Command {
            index: 6,
            arguments: 2,
            ..
        }
    ));
}
