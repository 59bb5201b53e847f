//! Uploads and downloads against Azurite, a real implementation of the Azure Blob protocol: the
//! emulator hands out SAS locations on it (`--blob-endpoint`), so Put Block, Put Block List and
//! Get Blob go to Azurite with signatures made as Azure makes them. Needs
//! `REFRESHCTL_TEST_AZURITE` (an account URL such as `http://127.0.0.1:10000/devstoreaccount1`),
//! which `.ci/run` sets after starting Azurite; skipped without it.

#[path = "common/adapter_conformance.rs"]
mod adapter_conformance;
#[path = "common/skip.rs"]
mod skip;

use chrono::{DateTime, TimeDelta};
use refreshctl::adapter::{Adapter, LcsAdapter, RetryPolicy};
use refreshctl::clock::Clock;
use refreshctl::emulator::{self, BlobEndpoint, Config, Running, Time};
use refreshctl::plan::EnvironmentType;
use refreshctl::sim::{Durations, Faults, Lcs};

const PROJECT: u64 = 1_234_567;

fn azurite() -> Option<String> {
    let url = std::env::var("REFRESHCTL_TEST_AZURITE").ok();
    if url.is_none() {
        skip::skip("REFRESHCTL_TEST_AZURITE is not set (.ci/run starts Azurite and sets it)");
    }
    url
}

async fn lab(url: &str) -> (Clock, Running, LcsAdapter) {
    let start = DateTime::parse_from_rfc3339("2026-12-05T21:00:00Z")
        .expect("time")
        .to_utc();
    let clock = Clock::simulated(start);
    let mut model = Lcs::new(
        Durations::default(),
        Faults::default(),
        start - TimeDelta::days(1),
    );
    model.add_environment(
        PROJECT,
        "contoso-prod",
        EnvironmentType::Production,
        "10.0.41",
        None,
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
            time: Time::Shared(clock.clone()),
            blob: BlobEndpoint::azure(url, None).expect("account URL"),
            ..Config::default()
        },
    )
    .await
    .expect("the emulator reaches Azurite");
    let adapter = LcsAdapter::new(
        &running.url(),
        running.credentials(),
        RetryPolicy::default(),
        clock.clone(),
    )
    .expect("adapter");
    (clock, running, adapter)
}

#[tokio::test(flavor = "current_thread")]
async fn the_conformance_suite_passes_with_blobs_on_azurite() {
    let Some(url) = azurite() else { return };
    let (clock, running, adapter) = lab(&url).await;
    adapter_conformance::run_all(&adapter_conformance::World {
        adapter: &adapter,
        clock: &clock,
        project: PROJECT,
        source: "contoso-prod",
        target: "contoso-uat",
        poll: TimeDelta::minutes(1),
    })
    .await;
    // The emulator saw no blob traffic: it all went to Azurite.
    assert!(
        running
            .emulator
            .requests()
            .iter()
            .all(|request| !request.path.starts_with("/blob/"))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_block_upload_to_azurite_reads_back_byte_for_byte() {
    let Some(url) = azurite() else { return };
    let (_clock, running, adapter) = lab(&url).await;
    // 9 MiB and a bit, in 4 MiB blocks, with distinct bytes so order matters.
    let content: Vec<u8> = (0..9 * 1024 * 1024 + 123)
        .map(|index: u32| (index % 251) as u8)
        .collect();
    let upload = adapter
        .create_asset(PROJECT, "Build 42", "build.zip")
        .await
        .expect("create");
    assert!(upload.location.starts_with(&url), "{}", upload.location);
    let mut blocks = Vec::new();
    for (index, chunk) in content.chunks(4 * 1024 * 1024).enumerate() {
        let block = base64_id(index);
        adapter
            .upload_block(&upload, &block, chunk.to_vec().into())
            .await
            .expect("put block");
        blocks.push(block);
    }
    adapter
        .commit_blocks(&upload, &blocks)
        .await
        .expect("put block list");
    adapter
        .commit_asset(PROJECT, &upload.asset)
        .await
        .expect("commit");
    let model = running.emulator.model();
    let asset = model
        .assets
        .iter()
        .find(|asset| asset.id == upload.asset)
        .expect("asset");
    assert_eq!(
        asset.size,
        content.len() as u64,
        "the emulator read the size back from Azurite"
    );
    assert_eq!(asset.blob_blocks.as_ref().map(Vec::len), Some(3));

    let directory = tempfile::tempdir().expect("temp");
    let file = directory.path().join("back.zip");
    let size = adapter
        .download_asset(PROJECT, &upload.asset, &file)
        .await
        .expect("download from Azurite");
    assert_eq!(size, content.len() as u64);
    assert!(
        std::fs::read(&file).expect("file") == content,
        "byte for byte"
    );

    // A location whose signature was tampered with is refused by Azurite itself.
    let mut forged = upload.clone();
    forged.location = forged.location.replace("sig=", "sig=AAAA");
    let refused = adapter
        .upload_block(&forged, &base64_id(9), vec![1].into())
        .await;
    assert!(
        matches!(&refused, Err(refreshctl::adapter::AdapterError::Refused(message)) if message.contains("403")),
        "{refused:?}"
    );
}

/// An asset stored with one Put Blob (as `AzCopy` and the SDKs do for small files) has no blocks
/// in its list: the emulator takes its size from the blob's properties, not 0.
#[tokio::test(flavor = "current_thread")]
async fn an_asset_put_in_one_piece_is_committed_with_its_size() {
    let Some(url) = azurite() else { return };
    let (_clock, running, adapter) = lab(&url).await;
    let upload = adapter
        .create_asset(PROJECT, "Build 43", "build.zip")
        .await
        .expect("create");
    let response = reqwest::Client::new()
        .put(&upload.location)
        .header("x-ms-blob-type", "BlockBlob")
        .header("x-ms-version", "2019-02-02")
        .body(vec![7_u8; 12_345])
        .send()
        .await
        .expect("Put Blob");
    assert_eq!(response.status().as_u16(), 201);
    adapter
        .commit_asset(PROJECT, &upload.asset)
        .await
        .expect("commit");
    let model = running.emulator.model();
    let asset = model
        .assets
        .iter()
        .find(|asset| asset.id == upload.asset)
        .expect("asset");
    assert_eq!(asset.size, 12_345);
}

fn base64_id(index: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{index:08}"))
}
