//! Identities from HR, groups pushed by SCIM, birthright assignments, the queue of target
//! changes, and versioned policy.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Identities {
    Table,
    Id,
    EmployeeId,
    Username,
    Email,
    DisplayName,
    Department,
    JobFunction,
    Manager,
    Location,
    Status,
    Kind,
    StartDate,
    EndDate,
    Source,
    ExternalId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    DisplayName,
    ExternalId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GroupMembers {
    Table,
    GroupId,
    IdentityId,
}

#[derive(DeriveIden)]
enum BirthrightAssignments {
    Table,
    IdentityId,
    Resource,
    Role,
    Rule,
    AssignedAt,
}

#[derive(DeriveIden)]
enum AccessJobs {
    Table,
    Id,
    Action,
    IdentityId,
    Resource,
    Role,
    Reason,
    State,
    Attempts,
    LastError,
    CreatedAt,
    DueAt,
}

#[derive(DeriveIden)]
enum PolicyVersions {
    Table,
    Version,
    Digest,
    Files,
    Comment,
    AppliedBy,
    AppliedAt,
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}

fn text_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().null().to_owned()
}

fn time(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // Long: a migration is a schema definition read as one piece, table after table;
    // splitting it would only scatter the schema, and a released migration never changes.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Identities::Table)
                    .col(
                        ColumnDef::new(Identities::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Identities::EmployeeId)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Identities::Username)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(text(Identities::Email))
                    .col(text(Identities::DisplayName))
                    .col(text_null(Identities::Department))
                    .col(text_null(Identities::JobFunction))
                    .col(ColumnDef::new(Identities::Manager).string_len(64).null())
                    .col(text_null(Identities::Location))
                    .col(ColumnDef::new(Identities::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Identities::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Identities::StartDate).string_len(10).null())
                    .col(ColumnDef::new(Identities::EndDate).string_len(10).null())
                    .col(ColumnDef::new(Identities::Source).string_len(16).not_null())
                    .col(text_null(Identities::ExternalId))
                    .col(time(Identities::CreatedAt))
                    .col(time(Identities::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Groups::Table)
                    .col(ColumnDef::new(Groups::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Groups::DisplayName)
                            .string_len(256)
                            .not_null()
                            .unique_key(),
                    )
                    .col(text_null(Groups::ExternalId))
                    .col(time(Groups::CreatedAt))
                    .col(time(Groups::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GroupMembers::Table)
                    .col(ColumnDef::new(GroupMembers::GroupId).uuid().not_null())
                    .col(ColumnDef::new(GroupMembers::IdentityId).uuid().not_null())
                    .primary_key(
                        Index::create()
                            .col(GroupMembers::GroupId)
                            .col(GroupMembers::IdentityId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_group_members_group")
                            .from(GroupMembers::Table, GroupMembers::GroupId)
                            .to(Groups::Table, Groups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_group_members_identity")
                            .from(GroupMembers::Table, GroupMembers::IdentityId)
                            .to(Identities::Table, Identities::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_group_members_identity")
                    .table(GroupMembers::Table)
                    .col(GroupMembers::IdentityId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BirthrightAssignments::Table)
                    .col(
                        ColumnDef::new(BirthrightAssignments::IdentityId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BirthrightAssignments::Resource)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BirthrightAssignments::Role)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(text(BirthrightAssignments::Rule))
                    .col(time(BirthrightAssignments::AssignedAt))
                    .primary_key(
                        Index::create()
                            .col(BirthrightAssignments::IdentityId)
                            .col(BirthrightAssignments::Resource)
                            .col(BirthrightAssignments::Role),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_birthright_identity")
                            .from(
                                BirthrightAssignments::Table,
                                BirthrightAssignments::IdentityId,
                            )
                            .to(Identities::Table, Identities::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccessJobs::Table)
                    .col(
                        ColumnDef::new(AccessJobs::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AccessJobs::Action).string_len(16).not_null())
                    .col(ColumnDef::new(AccessJobs::IdentityId).uuid().not_null())
                    .col(
                        ColumnDef::new(AccessJobs::Resource)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AccessJobs::Role).string_len(64).not_null())
                    .col(text(AccessJobs::Reason))
                    .col(ColumnDef::new(AccessJobs::State).string_len(16).not_null())
                    .col(ColumnDef::new(AccessJobs::Attempts).integer().not_null())
                    .col(text_null(AccessJobs::LastError))
                    .col(time(AccessJobs::CreatedAt))
                    .col(time(AccessJobs::DueAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_access_jobs_due")
                    .table(AccessJobs::Table)
                    .col(AccessJobs::State)
                    .col(AccessJobs::DueAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PolicyVersions::Table)
                    .col(
                        ColumnDef::new(PolicyVersions::Version)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PolicyVersions::Digest)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(text(PolicyVersions::Files))
                    .col(text(PolicyVersions::Comment))
                    .col(text(PolicyVersions::AppliedBy))
                    .col(time(PolicyVersions::AppliedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "identities and policy history are not rolled back".to_owned(),
        ))
    }
}
