//! The tamper-evident audit log: each event gains its resource, request, grant and risk
//! (indexed for search) and its place in the hash chain (`prev_hash`, `hash`); signed
//! checkpoints get a table, and so do the cursors of the SIEM exports.
//!
//! Events written before this migration are chained here, in sequence order, exactly as
//! new ones are chained when written, so one chain runs from the first event on.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};
use sea_orm_migration::prelude::*;
use uuid::Uuid;
use warden_audit::{Digest, Record, RecordActor};
use warden_core::audit::Subjects;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    At,
    ActorUser,
    Resource,
    RequestId,
    GrantId,
    Risk,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditCheckpoints {
    Table,
    Seq,
    Hash,
    At,
    KeyId,
    Signature,
}

#[derive(DeriveIden)]
enum AuditCursors {
    Table,
    Sink,
    Seq,
    UpdatedAt,
}

/// The rows read back to chain the events written before this migration.
#[derive(Debug, FromQueryResult)]
struct OldEvent {
    seq: i64,
    id: Uuid,
    at: i64,
    actor_user: Option<String>,
    actor_token: Option<Uuid>,
    source: Option<String>,
    user_agent: Option<String>,
    action: String,
    target: Option<String>,
    outcome: String,
    reason: Option<String>,
    details: String,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // Long: a migration is a schema definition read as one piece (columns, indexes, tables,
    // then `chain_existing`); a released migration never changes, so it stays as written.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            ColumnDef::new(AuditEvents::Resource)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(AuditEvents::RequestId)
                .uuid()
                .null()
                .to_owned(),
            ColumnDef::new(AuditEvents::GrantId)
                .uuid()
                .null()
                .to_owned(),
            ColumnDef::new(AuditEvents::Risk)
                .integer()
                .null()
                .to_owned(),
            ColumnDef::new(AuditEvents::PrevHash)
                .binary_len(32)
                .null()
                .to_owned(),
            ColumnDef::new(AuditEvents::Hash)
                .binary_len(32)
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for (name, column) in [
            ("ix_audit_events_at", AuditEvents::At),
            ("ix_audit_events_actor", AuditEvents::ActorUser),
            ("ix_audit_events_resource", AuditEvents::Resource),
            ("ix_audit_events_request", AuditEvents::RequestId),
            ("ix_audit_events_grant", AuditEvents::GrantId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AuditCheckpoints::Table)
                    .col(
                        ColumnDef::new(AuditCheckpoints::Seq)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditCheckpoints::Hash)
                            .binary_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditCheckpoints::At)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditCheckpoints::KeyId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditCheckpoints::Signature)
                            .text()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditCursors::Table)
                    .col(
                        ColumnDef::new(AuditCursors::Sink)
                            .string_len(128)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditCursors::Seq).big_integer().not_null())
                    .col(
                        ColumnDef::new(AuditCursors::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        chain_existing(manager).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the audit chain is not rolled back".to_owned(),
        ))
    }
}

/// Chains the events already stored, oldest first, a page at a time.
async fn chain_existing(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let (p1, p2, p3, p4, p5, p6, p7, p8) = match backend {
        DbBackend::Postgres => ("$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8"),
        _ => ("?", "?", "?", "?", "?", "?", "?", "?"),
    };
    let select = format!(
        "SELECT seq, id, at, actor_user, actor_token, source, user_agent, action, target, \
         outcome, reason, details FROM audit_events WHERE seq > {p1} ORDER BY seq LIMIT 1000"
    );
    let update = format!(
        "UPDATE audit_events SET resource = {p1}, request_id = {p2}, grant_id = {p3}, \
         risk = {p4}, prev_hash = {p5}, hash = {p6}, seq = {p7} WHERE seq = {p8}"
    );
    // Sequence numbers from before the chain may have gaps (a PostgreSQL sequence skips
    // the values of rolled-back transactions); the chain numbers events 1, 2, 3, ...
    let mut last_old = 0i64;
    let mut prev_seq = 0u64;
    let mut prev_hash = Digest::GENESIS;
    let mut buf = Vec::new();
    loop {
        let rows = OldEvent::find_by_statement(Statement::from_sql_and_values(
            backend,
            &select,
            [Value::from(last_old)],
        ))
        .all(db)
        .await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in rows {
            let details: BTreeMap<String, String> = serde_json::from_str(&row.details)
                .map_err(|e| DbErr::Migration(format!("audit event {}: {e}", row.seq)))?;
            let subjects = Subjects::derive(row.target.as_deref(), &details);
            let seq = prev_seq + 1;
            let mut record = Record {
                seq,
                id: row.id,
                time: row.at,
                actor: RecordActor {
                    user: row.actor_user.as_deref().map(Into::into),
                    token: row.actor_token,
                    ip: row.source.as_deref().map(Into::into),
                    user_agent: row.user_agent.as_deref().map(Into::into),
                },
                action: row.action.as_str().into(),
                target: row.target.as_deref().map(Into::into),
                outcome: row.outcome.as_str().into(),
                reason: row.reason.as_deref().map(Into::into),
                resource: subjects.resource.map(Into::into),
                request_id: subjects.request_id,
                grant_id: subjects.grant_id,
                risk: subjects.risk,
                details: details
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                    .collect(),
                prev_hash,
                hash: Digest::GENESIS,
            };
            record.hash = record.compute_hash_with(&mut buf);
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                &update,
                [
                    Value::from(subjects.resource.map(str::to_owned)),
                    Value::from(subjects.request_id),
                    Value::from(subjects.grant_id),
                    Value::from(
                        subjects
                            .risk
                            .and_then(|r| <i32 as TryFrom<u32>>::try_from(r).ok()),
                    ),
                    Value::from(prev_hash.0.to_vec()),
                    Value::from(record.hash.0.to_vec()),
                    Value::from(<i64 as TryFrom<u64>>::try_from(seq).unwrap_or(i64::MAX)),
                    Value::from(row.seq),
                ],
            ))
            .await?;
            last_old = row.seq;
            prev_seq = seq;
            prev_hash = record.hash;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use sea_orm::{ConnectionTrait, Database};
    use sea_orm_migration::MigratorTrait;

    use crate::migration::Migrator;

    /// Events written before the chain existed (with a gap in their numbers, as a
    /// PostgreSQL sequence leaves) are numbered 1, 2, 3 and chained by the migration,
    /// and new events continue that chain.
    #[tokio::test]
    async fn existing_events_are_chained_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let db = Database::connect(url.as_str()).await.unwrap();
        Migrator::up(&db, Some(7)).await.unwrap();
        for (seq, action, target, details) in [
            (1, "auth.login", "user:alice", r#"{}"#),
            (
                2,
                "request.create",
                "request:0190f1a2-0000-7000-8000-000000000001",
                r#"{"resource":"pg-prod","risk":"35"}"#,
            ),
            (
                5,
                "grant.revoked",
                "grant:0190f1a2-0000-7000-8000-000000000002",
                r#"{"request":"0190f1a2-0000-7000-8000-000000000001"}"#,
            ),
        ] {
            db.execute_unprepared(&format!(
                "INSERT INTO audit_events (seq, id, at, actor_user, action, target, outcome, details) \
                 VALUES ({seq}, X'0190f1a200007000800000000000010{seq}', {seq}000, 'alice', '{action}', '{target}', 'success', '{details}')"
            ))
            .await
            .unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        db.close().await.unwrap();

        let store = crate::Store::open(&url, &Default::default()).await.unwrap();
        store
            .append_audit(&warden_core::audit::AuditEvent::new(
                time::OffsetDateTime::UNIX_EPOCH,
                warden_core::audit::Actor::system(),
                warden_core::audit::Action::HrSync,
            ))
            .await
            .unwrap();
        let events = store.audit_events(0, 10).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        let mut prev = warden_audit::Digest::GENESIS;
        for e in &events {
            assert_eq!(e.prev_hash, prev);
            assert!(
                e.record().is_intact(),
                "event {} does not match its hash",
                e.seq
            );
            prev = e.hash;
        }
        assert_eq!(events[1].resource.as_deref(), Some("pg-prod"));
        assert_eq!(events[1].risk, Some(35));
        assert!(events[1].request_id.is_some());
        assert!(events[2].grant_id.is_some() && events[2].request_id.is_some());
        assert_eq!(events[2].action, "grant.revoked");
    }
}
