//! `refreshctl notify-preview PLAN`: the bodies a plan's notifications would carry, rendered for
//! its next window, and with `--send` one real message per notification, so a team sees what
//! its channel will show before the first refresh.

use std::io::Write;

use serde_json::Value;

use super::apply::runtime;
use super::check_settings;
use super::runtime::checked_plan;
use crate::adapter::AdapterKind;
use crate::cli::NotifyPreviewArgs;
use crate::error::{Error, exit};
use crate::executor::new_run;
use crate::notify::{Notifier, event_name};
use crate::plan::NotificationEvent;
use crate::report::preview::redact_url;

pub fn run(
    args: &NotifyPreviewArgs,
    adapter: AdapterKind,
    color: bool,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    let settings = check_settings(&args.check, None)?;
    let event = args.event.as_deref().map(parse_event).transpose()?;
    let plan = checked_plan(&args.plan, &settings, color)?;
    let window = plan
        .next_window(settings.now)
        .ok_or_else(|| Error::Refused {
            message: format!(
                "plan `{}` has no upcoming window to render for",
                plan.name()
            ),
            hint: Some("pass `--now` before its window".into()),
        })?;
    let run = new_run(&plan, window, settings.now, None, adapter);
    if plan.notifications().is_empty() {
        writeln!(out, "plan `{}` has no notifications", plan.name())?;
        return Ok(exit::SUCCESS);
    }
    let mut notifier = Notifier::rendering_only(&plan, &run, adapter);
    let mut broken = 0;
    for (index, notification) in plan.notifications().iter().enumerate() {
        let events: Vec<NotificationEvent> = match event {
            Some(event) => vec![event],
            None => notification.events().to_vec(),
        };
        for event in events {
            let subscribed = notification.events().contains(&event);
            writeln!(
                out,
                "notification {} to {} on `{}`{}{}:",
                index + 1,
                redact_url(notification.url()),
                event_name(event),
                if notification.template().is_some() {
                    " (its template)"
                } else {
                    " (the default body)"
                },
                if subscribed {
                    ""
                } else {
                    ", not in its `on:` list, so never sent"
                },
            )?;
            notifier.as_example(event);
            match notifier.body(index, event) {
                Ok(body) => writeln!(out, "{}\n", pretty(&body))?,
                Err(error) => {
                    broken += 1;
                    writeln!(out, "  does not render: {error}\n")?;
                }
            }
        }
    }
    if broken > 0 {
        return Ok(exit::FAILURE);
    }
    if args.send {
        return send(
            &plan,
            &run,
            adapter,
            event.unwrap_or(NotificationEvent::Submitted),
            out,
        );
    }
    Ok(exit::SUCCESS)
}

/// Sends `event`'s notifications once, for real; exit 3 when one is not delivered.
fn send(
    plan: &crate::plan::Plan,
    run: &crate::state::RunRecord,
    adapter: AdapterKind,
    event: NotificationEvent,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    let subscribers = plan
        .notifications()
        .iter()
        .filter(|notification| notification.events().contains(&event))
        .count();
    if subscribers == 0 {
        return Err(Error::Usage {
            message: format!(
                "no notification of plan `{}` is sent on `{}`; nothing to send",
                plan.name(),
                event_name(event)
            ),
        });
    }
    let deliveries = runtime()?.block_on(async {
        // A test message: its retries need not wait.
        let mut notifier = Notifier::new(plan, run, adapter, std::time::Duration::ZERO);
        notifier.send(event);
        notifier.finish().await
    });
    let mut failed = 0;
    for delivery in &deliveries {
        match &delivery.outcome {
            Ok(status) => writeln!(out, "sent to {}: HTTP {status}", delivery.url)?,
            Err(error) => {
                failed += 1;
                writeln!(out, "not delivered to {}: {error}", delivery.url)?;
            }
        }
    }
    Ok(if failed > 0 {
        exit::ENVIRONMENT
    } else {
        exit::SUCCESS
    })
}

fn parse_event(text: &str) -> Result<NotificationEvent, Error> {
    serde_json::from_value(Value::String(text.to_owned())).map_err(|_| Error::Usage {
        message: format!(
            "`{text}` is not a notification event; known: {}",
            NotificationEvent::ALL
                .iter()
                .map(|event| format!("`{}`", event_name(*event)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

fn pretty(body: &Value) -> String {
    serde_json::to_string_pretty(body).unwrap_or_else(|_| body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_by_their_plan_names() {
        assert_eq!(
            parse_event("awaiting-approval").expect("known"),
            NotificationEvent::AwaitingApproval
        );
        let error = parse_event("started-ish").expect_err("unknown");
        assert!(error.to_string().contains("`succeeded`"), "{error}");
    }
}
