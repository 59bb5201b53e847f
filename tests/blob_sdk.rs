//! A client nobody on this project wrote the logic of: the official Azure Storage SDK for
//! Python (`azure-storage-blob`) uploads in blocks, reads block lists, downloads whole and by
//! range, reads properties and is refused an overwrite with `If-None-Match`, against the
//! emulator's own blob endpoint and against Azurite, compared byte for byte. Needs
//! `REFRESHCTL_TEST_PYTHON` (a Python with the SDK; `.ci/run` makes one under `target/`) and,
//! for Azurite, `REFRESHCTL_TEST_AZURITE`; skipped with a message without them.

#[path = "common/skip.rs"]
mod skip;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use refreshctl::adapter::{Adapter, LcsAdapter, RetryPolicy};
use refreshctl::clock::Clock;
use refreshctl::emulator::{self, BlobEndpoint, Config};
use refreshctl::plan::EnvironmentType;
use refreshctl::sim::{Durations, Faults, Lcs};
use serde_json::Value;

const PROJECT: u64 = 1_234_567;

fn python() -> Option<String> {
    let python = std::env::var("REFRESHCTL_TEST_PYTHON").ok();
    if python.is_none() {
        skip::skip("REFRESHCTL_TEST_PYTHON is not set (.ci/run installs the Azure SDK)");
    }
    python
}

/// Hands out a writable SAS location on `blob` through the emulator's LCS API, and runs the
/// SDK client against it.
async fn sdk_against(blob: BlobEndpoint, python: String) {
    let now: DateTime<Utc> = Utc::now();
    let mut model = Lcs::new(
        Durations::default(),
        Faults::default(),
        now - TimeDelta::days(1),
    );
    model.add_environment(
        PROJECT,
        "contoso-uat",
        EnvironmentType::Sandbox,
        "10.0.41",
        None,
    );
    let running = emulator::start(
        model,
        Config {
            blob,
            ..Config::default()
        },
    )
    .await
    .expect("the emulator starts");
    let adapter = LcsAdapter::new(
        &running.url(),
        running.credentials(),
        RetryPolicy::default(),
        Clock::System,
    )
    .expect("adapter");
    let upload = adapter
        .create_asset(PROJECT, "Build 42", "build.zip")
        .await
        .expect("create an asset");
    // 9 MiB and a bit, distinct bytes so that order and offsets matter.
    let content: Vec<u8> = (0..9 * 1024 * 1024 + 123_u32)
        .map(|index| u8::try_from(index % 251).expect("small"))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let content_file = dir.path().join("content");
    std::fs::write(&content_file, &content).expect("write");
    let location = upload.location.clone();
    let out = dir.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/blob/sdk_client.py"
            ))
            .arg(&location)
            .arg(&content_file)
            .arg(&out)
            .output()
            .expect("python runs")
    })
    .await
    .expect("joined");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    check(&seen, &content, dir.path());
}

fn check(seen: &Value, content: &[u8], out: &Path) {
    let block = 4 * 1024 * 1024_u64;
    let last = content.len() as u64 - 2 * block;
    let before = &seen["before_commit"];
    assert_eq!(before["committed"], serde_json::json!([]), "{seen}");
    assert_eq!(
        before["uncommitted"].as_array().map(Vec::len),
        Some(3),
        "{seen}"
    );
    assert_eq!(
        before["uncommitted_sizes"],
        serde_json::json!([last, block, block]),
        "{seen}"
    );
    let after = &seen["after_commit"];
    assert_eq!(after["committed"], after["ids"], "{seen}");
    assert_eq!(
        after["committed_sizes"],
        serde_json::json!([block, block, last])
    );
    assert_eq!(after["uncommitted"], serde_json::json!([]));
    let properties = &seen["properties"];
    assert_eq!(properties["size"], content.len());
    assert_eq!(properties["blob_type"], "BlobType.BLOCKBLOB");
    assert_eq!(properties["content_type"], "application/x-zip-compressed");
    assert!(
        properties["etag"]
            .as_str()
            .is_some_and(|etag| !etag.is_empty()),
        "{seen}"
    );
    assert_eq!(properties["etag"], seen["commit"]["etag"], "{seen}");
    assert_ne!(properties["last_modified"], "None");
    let whole = std::fs::read(out.join("whole")).expect("downloaded");
    assert!(whole == content, "the whole download differs");
    for range in seen["ranges"].as_array().expect("ranges") {
        let offset = usize::try_from(range[0].as_u64().expect("offset")).expect("fits");
        let length = usize::try_from(range[1].as_u64().expect("length")).expect("fits");
        let part = std::fs::read(out.join(format!("range-{offset}-{length}"))).expect("range");
        assert!(
            part == content[offset..offset + length],
            "range {offset}+{length} differs"
        );
    }
    assert_eq!(seen["overwrite"], "refused: BlobAlreadyExists");
    assert_eq!(seen["after_refused_overwrite"], content.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_azure_sdk_works_against_the_emulators_own_blob_endpoint() {
    let Some(python) = python() else { return };
    sdk_against(BlobEndpoint::Local, python).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_azure_sdk_works_against_azurite_as_the_emulator_hands_it_out() {
    let Some(python) = python() else { return };
    let Ok(url) = std::env::var("REFRESHCTL_TEST_AZURITE") else {
        skip::skip("REFRESHCTL_TEST_AZURITE is not set (.ci/run starts Azurite)");
        return;
    };
    sdk_against(
        BlobEndpoint::azure(&url, None).expect("account URL"),
        python,
    )
    .await;
}
