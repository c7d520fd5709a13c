//! The live side of the agents: who is connected (and how to reach or drop each), and the
//! requests waiting for an agent's answer. Leaf modules: the gateway fills them, the core
//! and the scheduler read them.

mod pending;
mod registry;

pub use pending::PendingChecks;
pub use registry::Registry;
