//! `refreshctl schema`: print the plan JSON Schema.

use std::io::Write;

use crate::error::{Error, exit};

pub fn run(out: &mut dyn Write) -> Result<u8, Error> {
    out.write_all(crate::plan::json_schema().as_bytes())?;
    Ok(exit::SUCCESS)
}
