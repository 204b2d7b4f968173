//! Grants and their due-time queue, the notification outbox, break-glass reviews and
//! incidents, worker leases, and the recording connector's tables.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Requests {
    Table,
    Kind,
    Extends,
    Review,
    ReviewJustification,
    ReviewDueAt,
    StartAt,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    Id,
    RequestId,
    IdentityId,
    Resource,
    Role,
    TargetKind,
    Connection,
    Kind,
    State,
    DurationSecs,
    StartsAt,
    EndsAt,
    DueAt,
    Attempts,
    LastError,
    Handle,
    EndReason,
    Warned,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Channel,
    Event,
    Payload,
    CreatedAt,
    DueAt,
    Attempts,
    LastError,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum Reviews {
    Table,
    Id,
    RequestId,
    ReviewerId,
    ReviewerEmployeeId,
    Capacity,
    Verdict,
    Comment,
    At,
}

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    RequestId,
    OpenedAt,
    Reason,
    State,
}

#[derive(DeriveIden)]
enum Leases {
    Table,
    Name,
    Owner,
    Until,
}

#[derive(DeriveIden)]
enum RecordedAccess {
    Table,
    Key,
    IdentityId,
    Resource,
    Role,
    Until,
    GrantedAt,
}

#[derive(DeriveIden)]
enum ConnectorCalls {
    Table,
    Id,
    At,
    Op,
    IdentityId,
    Resource,
    Role,
    GrantId,
}

fn index(name: &str, table: DynIden, cols: Vec<DynIden>) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table);
    for c in cols {
        i.col(c);
    }
    i.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // Long: a migration is a schema definition read as one piece, table after table;
    // splitting it would only scatter the schema, and a released migration never changes.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            ColumnDef::new(Requests::Kind)
                .string_len(16)
                .not_null()
                .default("standard")
                .to_owned(),
            ColumnDef::new(Requests::Extends).uuid().null().to_owned(),
            ColumnDef::new(Requests::Review)
                .string_len(24)
                .null()
                .to_owned(),
            ColumnDef::new(Requests::ReviewJustification)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Requests::ReviewDueAt)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Requests::StartAt)
                .big_integer()
                .null()
                .to_owned(),
        ] {
            // SQLite adds one column per statement.
            manager
                .alter_table(
                    Table::alter()
                        .table(Requests::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Grants::Table)
                    .col(ColumnDef::new(Grants::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Grants::RequestId)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Grants::IdentityId).uuid().not_null())
                    .col(ColumnDef::new(Grants::Resource).string_len(64).not_null())
                    .col(ColumnDef::new(Grants::Role).string_len(64).not_null())
                    .col(ColumnDef::new(Grants::TargetKind).string_len(32).not_null())
                    .col(
                        ColumnDef::new(Grants::Connection)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Grants::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Grants::State).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Grants::DurationSecs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Grants::StartsAt).big_integer().null())
                    .col(ColumnDef::new(Grants::EndsAt).big_integer().null())
                    .col(ColumnDef::new(Grants::DueAt).big_integer().null())
                    .col(ColumnDef::new(Grants::Attempts).integer().not_null())
                    .col(ColumnDef::new(Grants::LastError).text().null())
                    .col(ColumnDef::new(Grants::Handle).text().null())
                    .col(ColumnDef::new(Grants::EndReason).text().null())
                    .col(ColumnDef::new(Grants::Warned).boolean().not_null())
                    .col(ColumnDef::new(Grants::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Grants::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // The queue: what is due next, in due-time order (final grants have no due time).
        manager
            .create_index(index(
                "ix_grants_due",
                Grants::Table.into_iden(),
                vec![Grants::DueAt.into_iden()],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_grants_access",
                Grants::Table.into_iden(),
                // The access check: one access's running grant, latest end first.
                vec![
                    Grants::IdentityId.into_iden(),
                    Grants::Resource.into_iden(),
                    Grants::Role.into_iden(),
                    Grants::State.into_iden(),
                    Grants::EndsAt.into_iden(),
                ],
            ))
            .await?;
        manager
            .create_index(index(
                // Active grants near their end whose holder has not been warned.
                "ix_grants_warn",
                Grants::Table.into_iden(),
                vec![
                    Grants::State.into_iden(),
                    Grants::Warned.into_iden(),
                    Grants::EndsAt.into_iden(),
                ],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(ColumnDef::new(Outbox::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Outbox::Channel).string_len(64).not_null())
                    .col(ColumnDef::new(Outbox::Event).string_len(64).not_null())
                    .col(ColumnDef::new(Outbox::Payload).text().not_null())
                    .col(ColumnDef::new(Outbox::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Outbox::DueAt).big_integer().null())
                    .col(ColumnDef::new(Outbox::Attempts).integer().not_null())
                    .col(ColumnDef::new(Outbox::LastError).text().null())
                    .col(ColumnDef::new(Outbox::DeliveredAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_outbox_due",
                Outbox::Table.into_iden(),
                vec![Outbox::DueAt.into_iden()],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Reviews::Table)
                    .col(ColumnDef::new(Reviews::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Reviews::RequestId).uuid().not_null())
                    .col(ColumnDef::new(Reviews::ReviewerId).uuid().not_null())
                    .col(
                        ColumnDef::new(Reviews::ReviewerEmployeeId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Reviews::Capacity).string_len(32).not_null())
                    .col(ColumnDef::new(Reviews::Verdict).string_len(16).not_null())
                    .col(ColumnDef::new(Reviews::Comment).text().not_null())
                    .col(ColumnDef::new(Reviews::At).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_reviews_request_reviewer")
                    .table(Reviews::Table)
                    .col(Reviews::RequestId)
                    .col(Reviews::ReviewerId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Incidents::Table)
                    .col(
                        ColumnDef::new(Incidents::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Incidents::RequestId)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Incidents::OpenedAt).big_integer().not_null())
                    .col(ColumnDef::new(Incidents::Reason).text().not_null())
                    .col(ColumnDef::new(Incidents::State).string_len(16).not_null())
                    .to_owned(),
            )
            .await?;

        // Which replica runs a singleton worker (the grant worker, the outbox), and until when.
        manager
            .create_table(
                Table::create()
                    .table(Leases::Table)
                    .col(
                        ColumnDef::new(Leases::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Leases::Owner).uuid().not_null())
                    .col(ColumnDef::new(Leases::Until).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecordedAccess::Table)
                    .col(
                        ColumnDef::new(RecordedAccess::Key)
                            .string_len(200)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RecordedAccess::IdentityId).uuid().not_null())
                    .col(
                        ColumnDef::new(RecordedAccess::Resource)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RecordedAccess::Role)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RecordedAccess::Until)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RecordedAccess::GrantedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConnectorCalls::Table)
                    .col(
                        ColumnDef::new(ConnectorCalls::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ConnectorCalls::At).big_integer().not_null())
                    .col(ColumnDef::new(ConnectorCalls::Op).string_len(16).not_null())
                    .col(ColumnDef::new(ConnectorCalls::IdentityId).uuid().not_null())
                    .col(
                        ColumnDef::new(ConnectorCalls::Resource)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ConnectorCalls::Role)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ConnectorCalls::GrantId).uuid().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("grants are not rolled back".to_owned()))
    }
}
