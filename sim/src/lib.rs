//! The discrete-event simulator: sparkq's scheduling core under a seeded virtual clock.

pub mod engine;
pub mod record;
pub mod scenario;
pub mod trace;
