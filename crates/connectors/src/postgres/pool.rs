//! The admin connections of one PostgreSQL connector: a bounded set in use at once, idle
//! ones kept for reuse and dropped once closed.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use tokio::sync::Semaphore;
use tokio_postgres::Client;

/// Admin connections: at most `max` in use at once, idle ones kept for reuse.
pub(super) struct Pool {
    idle: Mutex<Vec<Client>>,
    pub(super) permits: Semaphore,
    max: usize,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Pool")
            .field("max", &self.max)
            .field("idle", &idle)
            .finish()
    }
}

impl Pool {
    pub(super) fn new(max: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::with_capacity(max)),
            permits: Semaphore::new(max),
            max,
        }
    }

    /// An idle connection that is still open, if any.
    pub(super) fn take(&self) -> Option<Client> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(client) = idle.pop() {
            if !client.is_closed() {
                return Some(client);
            }
        }
        None
    }

    /// Keeps `client` for reuse unless it is closed.
    pub(super) fn put(&self, client: Client) {
        if !client.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(client);
        }
    }
}
