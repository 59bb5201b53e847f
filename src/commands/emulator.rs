//! `refreshctl emulator`: serves the LCS emulator until SIGINT or SIGTERM.

use std::io::Write;

use chrono::Utc;

use super::runtime::{load_inventory, seed, sim_faults};
use super::{DEFAULT_EMULATOR_PASSWORD, check_settings, read_and_check};
use crate::cli::{CheckArgs, EmulatorArgs};
use crate::clock::Clock;
use crate::emulator::{self, BlobEndpoint, Config, Rates, Time};
use crate::error::{Error, exit};
use crate::plan::discover::{DiscoverError, discover};
use crate::sim::{Durations, Lcs};

pub fn run(args: &EmulatorArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let usage = |message: String| Error::Usage { message };
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(usage(format!(
            "--speed {}: must be a number above 0",
            args.speed
        )));
    }
    let rates = args
        .fault
        .as_deref()
        .map(Rates::parse)
        .transpose()
        .map_err(|message| usage(format!("--fault: {message}")))?
        .unwrap_or_default();
    let blob = match &args.blob_endpoint {
        Some(url) => BlobEndpoint::azure(url, args.blob_key.as_deref())
            .map_err(|message| usage(format!("--blob-endpoint: {message}")))?,
        None => BlobEndpoint::Local,
    };
    let mut model = Lcs::new(
        Durations::default(),
        sim_faults(&args.sim_fault),
        Utc::now(),
    );
    if let Some(path) = &args.inventory {
        load_inventory(&mut model, path)?;
    }
    if !args.plans.is_empty() {
        let settings = check_settings(
            &CheckArgs {
                now: None,
                catalog: None,
            },
            None,
        )?;
        let files = discover(&args.plans).map_err(|error| match error {
            DiscoverError::NotFound(path) => Error::NotFound { path },
            DiscoverError::Read(path, source) => Error::Read { path, source },
        })?;
        for file in files {
            // A plan that cannot be read seeds nothing, as a plan with errors does.
            let (checked, _) = read_and_check(&file.path, &file.shown, &settings, true)?;
            if let Some(plan) = checked.plan {
                seed(&mut model, &plan);
            }
        }
    }
    let config = Config {
        // Tests of separate processes share one scaled clock with the replicas they run.
        time: match Clock::wall() {
            Clock::System => Time::Real { speed: args.speed },
            shared => Time::Shared(shared),
        },
        token_lifetime: args.token_lifetime,
        token_clock: args.token_clock,
        password: args.password.clone(),
        metadata_per_minute: args.metadata_per_minute,
        rates,
        seed: args.seed,
        blob,
        data_dir: args.data_dir.clone(),
        ..Config::default()
    };
    let environments = model.environments.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Output)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|error| Error::Unavailable {
                message: format!("cannot listen on {}: {error}", args.listen),
            })?;
        let emulator = emulator::Emulator::new(model, config)
            .await
            .map_err(|message| Error::Unavailable { message })?;
        let running = emulator::serve(listener, emulator).map_err(Error::Output)?;
        let url = running.url();
        writeln!(out, "refreshctl emulator listening on {url}")?;
        out.flush()?;
        // The rest is for people; a reader gone after the first line stops nothing.
        // The default password is no secret (it is in `--help`); one the user chose is not
        // echoed.
        let password = if args.password == DEFAULT_EMULATOR_PASSWORD {
            DEFAULT_EMULATOR_PASSWORD
        } else {
            "<the --password given>"
        };
        let _ = writeln!(
            out,
            "{environments} environment(s); model time runs {}x; point the lcs adapter at it with:\n  export LCS_API_URL={url}\n  export LCS_AUTH_URL={url}/common/oauth2/token\n  export LCS_CLIENT_ID=any LCS_USERNAME=you@example.com LCS_PASSWORD={password}",
            args.speed
        )
        .and_then(|()| out.flush());
        stopped().await;
        running.task.abort();
        Ok::<_, Error>(())
    })?;
    Ok(exit::SUCCESS)
}

/// Waits for SIGINT or SIGTERM.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
