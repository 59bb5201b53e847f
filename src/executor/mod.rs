//! Runs, steps and events: the executor advances a run through its steps (SPEC 5), committing
//! every outcome to the state store and emitting events that reporters render.

mod approve;
mod drive;
mod event;
pub mod failpoint;
mod operator;
mod retry;
mod run;
mod steps;
mod waiting;

pub use approve::{ApproveError, approve};
pub use drive::{Answer, Drive, DriveError, Foreground, Start, record, reject};
pub use event::{Collect, Event, EventKind, EventSink};
pub use operator::Operator;
pub use retry::{Retried, RetryError, after_failed_refresh};
pub use run::{
    ExecError, Executor, Held, Progress, Settings, Stoppable, new_run, target_key,
    template_context, unmade_run,
};
pub use steps::{BLOCK_SIZE, wait_due};
pub use waiting::{held_by, unblocking_command, waiting_since};
