//! One module per page.

pub mod admin;
pub mod agents;
pub mod alerts;
pub mod certificate;
pub mod certificates;
pub mod hosts;
pub mod issuing_ca;
pub mod login;
pub mod overview;
pub mod renewals;
pub mod rollouts;
