//! Command steps: a post step's program run with its rendered arguments from the plan's
//! directory, its output in the run's log, stopped at its timeout.

use chrono::TimeDelta;

use crate::adapter::Adapter;
use crate::executor::event::EventKind;
use crate::executor::run::{Executor, Outcome, template_context};
use crate::state::RunRecord;

impl<A: Adapter> Executor<'_, A> {
    pub(in crate::executor) async fn command(
        &mut self,
        run: &mut RunRecord,
        step: &str,
        post_step: usize,
        arguments: usize,
        timeout: TimeDelta,
    ) -> Outcome {
        let context = template_context(self.plan, run, Some(step), "started", self.adapter.name());
        let mut argv = Vec::with_capacity(arguments);
        for position in 0..arguments {
            match self.plan.templates().render(
                &format!("post_steps[{post_step}].run[{position}]"),
                &context,
            ) {
                Ok(argument) => argv.push(argument),
                Err(error) => return Outcome::Fail(format!("argument {position}: {error}")),
            }
        }
        let Some((program, rest)) = argv.split_first() else {
            return Outcome::Fail("the command is empty".into());
        };
        let child = tokio::process::Command::new(program)
            .args(rest)
            .current_dir(&self.settings.plan_dir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let limit = timeout
            .to_std()
            .unwrap_or(std::time::Duration::from_mins(30));
        let output = match tokio::time::timeout(limit, child).await {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => return Outcome::Fail(format!("cannot run `{program}`: {error}")),
            Err(_) => {
                return Outcome::Fail(format!(
                    "`{program}` ran longer than its timeout and was stopped"
                ));
            }
        };
        for line in String::from_utf8_lossy(&output.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&output.stderr).lines())
        {
            self.emit(run, EventKind::Log, Some(step), line.to_owned(), None);
        }
        if output.status.success() {
            Outcome::Done
        } else {
            Outcome::Fail(format!(
                "`{program}` exited with {}; `refreshctl resume {} --retry-step` runs it again",
                output.status, run.id
            ))
        }
    }
}
