//! `refreshctl notify-preview` through the real binary: the rendered bodies of a plan's
//! notifications, and `--send` to a real HTTP server on loopback.

mod common;
#[path = "common/http_server.rs"]
mod http_server;

use common::{NOW, refreshctl, temp_plan};
use http_server::Server;

#[test]
fn the_example_plan_shows_each_event_it_is_sent_on() {
    let output = refreshctl(&[
        "notify-preview",
        "--now",
        NOW,
        "plans/contoso-uat-weekly.yaml",
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    for event in ["submitted", "started", "succeeded", "failed", "canceled"] {
        assert!(
            output.stdout.contains(&format!(
                "to https://contoso.webhook.office.com/… on `{event}` (its template):"
            )),
            "{event}: {}",
            output.stdout
        );
        assert!(
            output
                .stdout
                .contains(&format!("\"title\": \"UAT refresh {event}\"")),
            "{}",
            output.stdout
        );
    }
    // The template's values are the plan's, the URL's path (a secret of the hook) is not shown.
    assert!(
        output
            .stdout
            .contains("contoso-uat is refreshed from contoso-prod")
    );
    assert!(!output.stdout.contains("uat-refresh\n") && !output.stdout.contains("webhookb2"));
    let output = refreshctl(&[
        "notify-preview",
        "--now",
        NOW,
        "--event",
        "accepted",
        "plans/contoso-uat-weekly.yaml",
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output
            .stdout
            .contains("not in its `on:` list, so never sent"),
        "{}",
        output.stdout
    );
}

#[test]
fn send_posts_one_message_per_notification() {
    let server = Server::start(0);
    let hook = format!("{}/hook/secret-part", server.url);
    let (_dir, plan) = temp_plan(|clean| {
        format!("{clean}notifications:\n  - url: {hook}\n    on: [submitted, failed]\n")
    });
    let output = refreshctl(&[
        "notify-preview",
        "--now",
        NOW,
        "--event",
        "failed",
        "--send",
        &plan,
    ]);
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
    assert!(
        output.stdout.contains("sent to http://127.0.0.1:"),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("secret-part"), "{}", output.stdout);
    let requests = server.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].0, "/hook/secret-part");
    let body = &server.bodies()[0];
    assert_eq!(body["event"], "failed");
    assert_eq!(body["environment"], "contoso-uat");
}

#[test]
fn refusals_say_what_and_exit_non_zero() {
    let output = refreshctl(&[
        "notify-preview",
        "--now",
        NOW,
        "--event",
        "exploded",
        "plans/contoso-uat-weekly.yaml",
    ]);
    assert_eq!(output.code, 2);
    assert!(
        output
            .stderr
            .contains("`exploded` is not a notification event"),
        "{}",
        output.stderr
    );
    // A closed port: the message is not delivered, which is exit 3.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let (_dir, plan) = temp_plan(|clean| {
        format!("{clean}notifications:\n  - url: http://127.0.0.1:{port}/hook\n")
    });
    let output = refreshctl(&["notify-preview", "--now", NOW, "--send", &plan]);
    assert_eq!(output.code, 3, "{}{}", output.stdout, output.stderr);
    assert!(
        output.stdout.contains("not delivered to http://127.0.0.1"),
        "{}",
        output.stdout
    );
    let (_dir, plan) = temp_plan(|clean| clean);
    let output = refreshctl(&["notify-preview", "--now", NOW, &plan]);
    assert_eq!(output.code, 0);
    assert_eq!(output.stdout, "plan `uat-refresh` has no notifications\n");
}

#[test]
fn the_waiting_events_show_what_each_says_why() {
    let (_directory, path) = temp_plan(|clean| {
        format!(
            "{clean}  - manual:\n      instructions: Re-activate the POS devices.\n      \
             timeout: 1d\nnotifications:\n  - url: https://hooks.example.com/secret-path\n"
        )
    });
    let preview = |event: &str| {
        let output = refreshctl(&["notify-preview", "--now", NOW, "--event", event, &path]);
        assert_eq!(output.code, 0, "{event}: {}", output.stderr);
        let body = output
            .stdout
            .split_once(":\n")
            .map(|(_, body)| body.trim())
            .unwrap_or_default()
            .to_owned();
        let body: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|error| panic!("{event}: not JSON ({error}): {}", output.stdout));
        body
    };
    let run = "uat-refresh@20261205T2100Z";
    let waiting = preview("awaiting-approval");
    assert_eq!(waiting["step"], "manual", "{waiting}");
    assert_eq!(
        waiting["command"],
        format!("refreshctl approve {run} manual (or refreshctl cancel {run})")
    );
    let attention = preview("needs-attention");
    assert_eq!(attention["step"], "start-refresh", "{attention}");
    assert!(
        attention["command"].as_str().is_some_and(
            |command| command.contains(&format!("refreshctl resume {run} --retry-step"))
        ),
        "{attention}"
    );
    // A rejection names an earlier run of the plan that waits at its manual step.
    let rejected = preview("rejected");
    assert!(
        rejected["detail"].as_str().is_some_and(|detail| detail.starts_with(
            "run `uat-refresh@20261128T2100Z` is active on the same environment (awaiting-approval at `manual`"
        )),
        "{rejected}"
    );
    let skipped = preview("skipped");
    assert!(
        skipped["detail"].as_str().is_some_and(
            |detail| detail.starts_with("The occurrence is skipped: its submission was due at")
        ),
        "{skipped}"
    );
    assert!(preview("succeeded")["detail"].is_null());
}
