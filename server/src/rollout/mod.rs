//! Rollouts in motion: `scheduler` drives every active rollout from the database (start at
//! its time, waves, windows, re-sends, the failure limit) and takes the agents' progress
//! and results; `windows` are the maintenance windows per host group. Creating and steering
//! a rollout are use cases of the console core.

pub mod scheduler;
pub mod windows;
