//! The access check's answers from memory: an index of the active grants, per replica,
//! kept current from the change stream of the grants table (`warden_store` stamps every
//! transaction that writes grants or identities with a counter value).
//!
//! - It is read at start in one streamed query, and then follows the stream: every
//!   [`POLL`] in the background for changes made through other replicas, and at once
//!   when this process commits one.
//! - A change made here that may take access away (an early end, a leaver, a policy
//!   apply, a rename) is seen by the very next check: until the index has read it, no
//!   check answers from it. One that may give access (a grant made active) is seen by
//!   the next check too: until the index has read it, only "allowed" is answered from
//!   memory, and "not allowed" is read again. The worker's revocations need neither: a
//!   grant it revokes had already reached its end, and the index already refused it.
//! - It answers only while fresh: read no longer than [`MAX_STALE`] ago. Otherwise the
//!   check reads the database, as it does before the first read is done or when reading
//!   the stream fails. Failing to keep up never answers from old data.
//! - A grant's end needs no change to take effect: an entry allows only while the clock
//!   is between its start and its end, so access stops at the end even before the
//!   worker's revocation lands.
//! - A change counter lower than the one last read (a database restored from a backup)
//!   makes it read everything again.
//! - It knows only identities holding an active grant. A user name it does not know is
//!   looked up in the database (to tell an unknown identity from one without access).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use uuid::Uuid;
use warden_core::request::{RequestKind, RequestState};
use warden_store::{AccessChanges, AccessRow, Store, StoreError};

/// How often the background task reads the change stream.
pub const POLL: Duration = Duration::from_millis(200);

/// The longest the index answers after its last read of the change stream.
pub const MAX_STALE: Duration = Duration::from_secs(1);

/// An active grant that gives access now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    /// The grant.
    pub grant: Uuid,
    /// When it ends.
    pub ends_at: OffsetDateTime,
    /// Whether it is break-glass.
    pub breakglass: bool,
}

/// One active grant of a holder.
#[derive(Debug, Clone)]
struct Held {
    grant: Uuid,
    resource: Arc<str>,
    role: Arc<str>,
    starts_ms: i64,
    ends_ms: i64,
    breakglass: bool,
}

/// The index proper.
#[derive(Debug, Default)]
struct Data {
    /// User name → identity, for identities holding an active grant.
    by_name: HashMap<String, Uuid>,
    /// Identity → its user name, for the same identities.
    name_of: HashMap<Uuid, String>,
    /// Identity → its active grants.
    held: HashMap<Uuid, Vec<Held>>,
    /// Resource and role names, shared.
    names: HashSet<Arc<str>>,
    /// The counter value read up to.
    seq: i64,
    /// This process's count of changes that may take access away
    /// ([`Store::access_epoch`]) when last read.
    epoch: u64,
    /// This process's count of changes that may give access
    /// ([`Store::access_widen_epoch`]) when last read.
    widen: u64,
    /// When the last read of the stream started.
    read_at: Option<Instant>,
    /// Active grants held.
    grants: usize,
}

impl Data {
    fn name(&mut self, s: &str) -> Arc<str> {
        if let Some(n) = self.names.get(s) {
            return Arc::clone(n);
        }
        let n: Arc<str> = Arc::from(s);
        self.names.insert(Arc::clone(&n));
        n
    }

    /// The identity's user name is now `username`.
    fn rename(&mut self, identity: Uuid, username: &str) {
        let Some(old) = self.name_of.get(&identity) else {
            return;
        };
        if old == username {
            return;
        }
        if self.by_name.get(old) == Some(&identity) {
            self.by_name.remove(old);
        }
        self.by_name.insert(username.to_owned(), identity);
        self.name_of.insert(identity, username.to_owned());
    }

    /// Drops the grant from its holder, and the holder when it holds nothing more.
    fn remove(&mut self, identity: Uuid, grant: Uuid) {
        let Some(list) = self.held.get_mut(&identity) else {
            return;
        };
        let before = list.len();
        list.retain(|h| h.grant != grant);
        self.grants -= before - list.len();
        if list.is_empty() {
            self.held.remove(&identity);
            if let Some(name) = self.name_of.remove(&identity)
                && self.by_name.get(&name) == Some(&identity)
            {
                self.by_name.remove(&name);
            }
        }
    }

    /// Applies one grant as it now is.
    fn apply(&mut self, row: &AccessRow) {
        self.remove(row.identity, row.grant);
        let (Some(starts), Some(ends)) = (row.starts_at, row.ends_at) else {
            return;
        };
        if row.state != RequestState::Active {
            return;
        }
        self.rename(row.identity, &row.username);
        if let std::collections::hash_map::Entry::Vacant(e) = self.name_of.entry(row.identity) {
            e.insert(row.username.clone());
            self.by_name.insert(row.username.clone(), row.identity);
        }
        let held = Held {
            grant: row.grant,
            resource: self.name(&row.resource),
            role: self.name(&row.role),
            starts_ms: warden_store::unix_ms(starts),
            ends_ms: warden_store::unix_ms(ends),
            breakglass: row.kind == RequestKind::BreakGlass,
        };
        self.held.entry(row.identity).or_default().push(held);
        self.grants += 1;
    }

    fn apply_changes(&mut self, changes: &AccessChanges) {
        for (identity, username) in &changes.identities {
            self.rename(*identity, username);
        }
        for row in &changes.grants {
            self.apply(row);
        }
        self.seq = self.seq.max(changes.seq);
    }

    /// The running grant of an access that ends last; `None` inside when the holder is
    /// known but holds no such grant now, `None` outside when the user name is unknown.
    fn lookup(
        &self,
        username: &str,
        resource: &str,
        role: &str,
        now: OffsetDateTime,
    ) -> Option<Option<Running>> {
        let identity = self.by_name.get(username)?;
        let now = warden_store::unix_ms(now);
        let best = self
            .held
            .get(identity)?
            .iter()
            .filter(|h| &*h.resource == resource && &*h.role == role)
            .filter(|h| h.starts_ms <= now && now < h.ends_ms)
            .max_by_key(|h| h.ends_ms);
        Some(best.and_then(|b| {
            warden_store::from_unix_ms(b.ends_ms)
                .ok()
                .map(|ends_at| Running {
                    grant: b.grant,
                    ends_at,
                    breakglass: b.breakglass,
                })
        }))
    }
}

/// The index of one replica.
#[derive(Debug, Default)]
pub struct AccessIndex {
    data: RwLock<Option<Data>>,
    /// Held while reading the database into the index: one read at a time.
    reading: tokio::sync::Mutex<()>,
    /// Whether a background task ([`run`]) reads and follows the index. Then a check never
    /// makes the first read itself (it may take seconds); without one, the first check
    /// makes it.
    followed: std::sync::atomic::AtomicBool,
}

/// What the index says of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The identity holds the access now, by this grant.
    Allowed(Running),
    /// The identity is known and holds no such grant now.
    Denied,
    /// Ask the database: the user name is not in the index, or the index is not fresh.
    Unknown,
}

impl AccessIndex {
    /// Whether the index may answer for this process's change count `epoch`.
    fn fresh(&self, epoch: u64) -> bool {
        let data = self.data.read().unwrap_or_else(PoisonError::into_inner);
        data.as_ref().is_some_and(|d| {
            d.epoch == epoch && d.read_at.is_some_and(|at| at.elapsed() < MAX_STALE)
        })
    }

    /// Marks the index as read and followed by a background task ([`run`]). Call it before
    /// serving, so no check makes the first read itself.
    pub fn follow_in_background(&self) {
        self.followed
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn loaded(&self) -> bool {
        self.data
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Active grants in the index, once it has been read.
    pub fn grants(&self) -> Option<usize> {
        self.data
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|d| d.grants)
    }

    /// Answers a check from memory when the index is fresh, bringing it up to date first
    /// when it is not and no other read is under way; [`Answer::Unknown`] otherwise.
    pub async fn check(
        &self,
        store: &Store,
        username: &str,
        resource: &str,
        role: &str,
        now: OffsetDateTime,
    ) -> Answer {
        if !self.fresh(store.access_epoch()) {
            // Something may have taken access away since the last read: read first.
            // A first read made by the background task is neither made nor waited for
            // here (it may take seconds): the database answers meanwhile.
            let followed = self.followed.load(std::sync::atomic::Ordering::Acquire);
            let guard = match self.reading.try_lock() {
                Ok(_) if followed && !self.loaded() => return Answer::Unknown,
                Ok(g) => g,
                Err(_) if !self.loaded() => return Answer::Unknown,
                Err(_) => self.reading.lock().await,
            };
            if let Err(e) = self.refresh_locked(store).await {
                tracing::warn!(error = %e, "cannot read the change stream of access; the access check reads the database");
            }
            drop(guard);
            if !self.fresh(store.access_epoch()) {
                return Answer::Unknown;
            }
        }
        let (answer, widened) = self.lookup(store, username, resource, role, now);
        if matches!(answer, Answer::Allowed(_)) || !widened {
            return answer;
        }
        // Access given here since the last read (a grant made active) may turn this
        // "no" into a "yes": read the changes unless a read is under way (the background
        // task has been woken for it), in which case the database answers.
        let Ok(_guard) = self.reading.try_lock() else {
            return Answer::Unknown;
        };
        if let Err(e) = self.read(store).await {
            tracing::warn!(error = %e, "cannot read the change stream of access; the access check reads the database");
            return Answer::Unknown;
        }
        match self.lookup(store, username, resource, role, now) {
            (answer, false) => answer,
            (Answer::Allowed(r), true) => Answer::Allowed(r),
            (_, true) => Answer::Unknown,
        }
    }

    /// The index's answer, and whether access may have been given here since the read it
    /// comes from.
    fn lookup(
        &self,
        store: &Store,
        username: &str,
        resource: &str,
        role: &str,
        now: OffsetDateTime,
    ) -> (Answer, bool) {
        let widen = store.access_widen_epoch();
        let data = self.data.read().unwrap_or_else(PoisonError::into_inner);
        let Some(d) = data.as_ref() else {
            return (Answer::Unknown, false);
        };
        let answer = match d.lookup(username, resource, role, now) {
            Some(Some(r)) => Answer::Allowed(r),
            Some(None) => Answer::Denied,
            None => Answer::Unknown,
        };
        (answer, d.widen != widen)
    }

    /// Brings the index up to date: the first read when there was none, else the
    /// changes since the last.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let _guard = self.reading.lock().await;
        self.read(store).await
    }

    /// [`Self::read`] unless another task made the index fresh while this one waited.
    async fn refresh_locked(&self, store: &Store) -> Result<(), StoreError> {
        if self.fresh(store.access_epoch()) {
            return Ok(());
        }
        self.read(store).await
    }

    async fn read(&self, store: &Store) -> Result<(), StoreError> {
        // Both counts before the database: a change committed meanwhile moves them on.
        let epochs = (store.access_epoch(), store.access_widen_epoch());
        let started = Instant::now();
        let seq = {
            let data = self.data.read().unwrap_or_else(PoisonError::into_inner);
            data.as_ref().map(|d| d.seq)
        };
        let Some(seq) = seq else {
            return self.load(store, epochs, started).await;
        };
        let changes = store.access_changes(seq).await?;
        if changes.seq < seq {
            // The counter went back: the database was restored from a backup. What the
            // index holds may be newer than the database; read everything again.
            tracing::warn!(
                was = seq,
                now = changes.seq,
                "the access change counter went back (a restored database?); reading the access index again"
            );
            return self.load(store, epochs, started).await;
        }
        let mut data = self.data.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = data.as_mut() {
            d.apply_changes(&changes);
            (d.epoch, d.widen) = epochs;
            d.read_at = Some(started);
        }
        Ok(())
    }

    /// The first read: the counter, then every active grant as the database streams them,
    /// then the changes made meanwhile.
    async fn load(
        &self,
        store: &Store,
        (epoch, widen): (u64, u64),
        started: Instant,
    ) -> Result<(), StoreError> {
        let seq = store.access_seq().await?;
        let mut d = Data::default();
        store.each_active_access(|row| d.apply(&row)).await?;
        d.seq = seq;
        let changes = store.access_changes(seq).await?;
        d.apply_changes(&changes);
        (d.epoch, d.widen) = (epoch, widen);
        d.read_at = Some(started);
        tracing::info!(
            grants = d.grants,
            holders = d.held.len(),
            ms = started.elapsed().as_millis(),
            "access index read"
        );
        *self.data.write().unwrap_or_else(PoisonError::into_inner) = Some(d);
        Ok(())
    }
}

/// Keeps the index of `state` current while the server runs: the first read at once,
/// then the change stream every [`POLL`].
pub async fn run(state: crate::state::AppState) {
    state.access_index().follow_in_background();
    // Failures in a row: the first is logged, and the recovery, not every retry.
    let mut failing = 0_u64;
    loop {
        let index = state.access_index();
        match index.refresh(state.store()).await {
            Ok(()) if failing > 0 => {
                tracing::info!(
                    failures = failing,
                    "the change stream of access is read again"
                );
                failing = 0;
            }
            Ok(()) => {}
            Err(e) => {
                if failing == 0 {
                    tracing::warn!(error = %e, "cannot read the change stream of access; the access check reads the database until it can");
                }
                failing += 1;
            }
        }
        if let Some(n) = index.grants() {
            metrics::gauge!("warden_access_index_grants").set(n as f64);
        }
        // Every POLL for changes made through other replicas; at once for ours.
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = state.store().access_written_here() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-06-01 09:00 UTC);

    fn row(grant: u128, identity: u128, username: &str, state: &str) -> AccessRow {
        AccessRow {
            grant: Uuid::from_u128(grant),
            identity: Uuid::from_u128(identity),
            username: username.to_owned(),
            resource: "db".to_owned(),
            role: "read".to_owned(),
            state: RequestState::parse(state).unwrap(),
            kind: RequestKind::Standard,
            starts_at: Some(T0),
            ends_at: Some(T0 + time::Duration::hours(1)),
        }
    }

    fn allowed(d: &Data, who: &str, at: OffsetDateTime) -> Option<Option<Uuid>> {
        d.lookup(who, "db", "read", at).map(|r| r.map(|r| r.grant))
    }

    #[test]
    fn a_grant_allows_only_within_its_window_and_while_active() {
        let mut d = Data::default();
        d.apply(&row(1, 10, "alice", "active"));
        assert_eq!(allowed(&d, "alice", T0), Some(Some(Uuid::from_u128(1))));
        assert_eq!(
            allowed(&d, "alice", T0 - time::Duration::SECOND),
            Some(None)
        );
        assert_eq!(
            allowed(&d, "alice", T0 + time::Duration::hours(1)),
            Some(None)
        );
        assert_eq!(d.lookup("alice", "db", "write", T0), Some(None));
        assert_eq!(allowed(&d, "bob", T0), None, "unknown: ask the database");
        d.apply(&row(1, 10, "alice", "revoking"));
        assert_eq!(allowed(&d, "alice", T0), None, "holds nothing: forgotten");
        assert_eq!(d.grants, 0);
        assert!(d.held.is_empty() && d.by_name.is_empty() && d.name_of.is_empty());
    }

    #[test]
    fn of_overlapping_grants_the_one_ending_last_answers_and_one_ending_keeps_the_other() {
        let mut d = Data::default();
        d.apply(&row(1, 10, "alice", "active"));
        let mut later = row(2, 10, "alice", "active");
        later.ends_at = Some(T0 + time::Duration::hours(3));
        d.apply(&later);
        assert_eq!(allowed(&d, "alice", T0), Some(Some(Uuid::from_u128(2))));
        d.apply(&row(2, 10, "alice", "revoked"));
        assert_eq!(allowed(&d, "alice", T0), Some(Some(Uuid::from_u128(1))));
        // The same change read twice (a first read and the stream overlap) is one change.
        d.apply(&row(1, 10, "alice", "active"));
        assert_eq!(d.grants, 1);
    }

    #[test]
    fn renames_move_the_holder_even_when_two_swap_names() {
        let mut d = Data::default();
        d.apply(&row(1, 10, "alice", "active"));
        d.apply(&row(2, 20, "bob", "active"));
        d.apply_changes(&AccessChanges {
            seq: 7,
            identities: vec![
                (Uuid::from_u128(10), "bob".to_owned()),
                (Uuid::from_u128(20), "alice".to_owned()),
            ],
            grants: Vec::new(),
        });
        assert_eq!(allowed(&d, "bob", T0), Some(Some(Uuid::from_u128(1))));
        assert_eq!(allowed(&d, "alice", T0), Some(Some(Uuid::from_u128(2))));
        assert_eq!(d.seq, 7);
        // A grant row carrying the new name of a holder renames it too.
        d.apply(&row(3, 10, "carol", "active"));
        assert_eq!(allowed(&d, "bob", T0), None, "the old name is gone");
        assert_eq!(allowed(&d, "carol", T0).map(|r| r.is_some()), Some(true));
        assert_eq!(d.held.get(&Uuid::from_u128(10)).map(Vec::len), Some(2));
    }
}
