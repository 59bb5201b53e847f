//! refreshctl: database refreshes of Dynamics 365 Finance and Operations environments as
//! checked-in YAML plans.

pub mod adapter;
pub mod plan;
pub mod rules;
