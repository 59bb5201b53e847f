//! Export steps: the backup name, rendered from the plan's template or the default, said in
//! the run's log before the call (the call itself goes through the intent protocol of
//! `operation.rs`).

use crate::adapter::Adapter;
use crate::executor::event::EventKind;
use crate::executor::run::{Executor, template_context};
use crate::state::RunRecord;

impl<A: Adapter> Executor<'_, A> {
    /// The backup name of an export step, said in the run's log before the call.
    pub(in crate::executor) fn announced_backup(
        &mut self,
        run: &mut RunRecord,
        step: &str,
        template: Option<&str>,
    ) -> Result<String, String> {
        let backup = self.backup_name(run, step, template)?;
        self.emit(
            run,
            EventKind::Log,
            Some(step),
            format!(
                "exporting the database of `{}` to the project's asset library as `{backup}.bacpac`",
                self.plan.environment().name()
            ),
            None,
        );
        Ok(backup)
    }

    /// The backup name of an export step: its template rendered for this run, or the default.
    pub(in crate::executor) fn backup_name(
        &self,
        run: &RunRecord,
        step: &str,
        template: Option<&str>,
    ) -> Result<String, String> {
        let name = match template {
            None => crate::plan::default_backup_name(
                self.plan.environment().name(),
                run.window_start,
                step,
            ),
            Some(template) => {
                let context =
                    template_context(self.plan, run, Some(step), "started", self.adapter.name());
                self.plan
                    .templates()
                    .render(template, &context)
                    .map_err(|error| format!("the backup name: {error}"))?
                    .trim()
                    .to_owned()
            }
        };
        crate::plan::check_backup_name(&name)?;
        Ok(name)
    }
}
