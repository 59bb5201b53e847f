//! One file per step kind: the `impl Executor` blocks that perform each kind of step, while
//! `run.rs` holds the run loop that dispatches to them.

mod command;
mod download;
mod export;
mod manual;
mod operation;
mod preflight;
mod upload;

pub use manual::wait_due;
pub(super) use manual::waiting_manual_step;
pub use upload::BLOCK_SIZE;
