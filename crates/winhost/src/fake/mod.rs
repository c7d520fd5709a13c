//! In-memory stand-ins for the Windows capabilities, for tests on any platform. Each keeps
//! Windows' documented behaviour, error codes included, so code written against the traits
//! meets the same answers here as on a server.

mod httpsys;
mod services;
mod stores;

pub use httpsys::FakeHttpConfig;
pub use services::{Behaviour, FakeServices};
pub use stores::FakeStores;
