//! The first schema: users, tokens, login throttling, the audit log, system settings.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    DisplayName,
    PasswordHash,
    Scopes,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    Kind,
    Scopes,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum LoginThrottle {
    Table,
    Username,
    Failures,
    WindowStart,
    LockedUntil,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Seq,
    Id,
    At,
    ActorUser,
    ActorToken,
    Source,
    UserAgent,
    Action,
    Target,
    Outcome,
    Reason,
    Details,
}

#[derive(DeriveIden)]
enum SystemSettings {
    Table,
    Key,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // Long: a migration is a schema definition read as one piece, table after table;
    // splitting it would only scatter the schema, and a released migration never changes.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Users::Username)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Users::DisplayName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Users::PasswordHash).text().null())
                    .col(ColumnDef::new(Users::Scopes).text().not_null())
                    .col(ColumnDef::new(Users::Disabled).boolean().not_null())
                    .col(ColumnDef::new(Users::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Users::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(
                        ColumnDef::new(ApiTokens::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ApiTokens::UserId).uuid().not_null())
                    .col(ColumnDef::new(ApiTokens::Name).string_len(200).not_null())
                    .col(ColumnDef::new(ApiTokens::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(ApiTokens::Scopes).text().not_null())
                    .col(ColumnDef::new(ApiTokens::TokenHash).binary().not_null())
                    .col(
                        ColumnDef::new(ApiTokens::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApiTokens::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiTokens::RevokedAt).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_tokens_user")
                            .from(ApiTokens::Table, ApiTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_api_tokens_user")
                    .table(ApiTokens::Table)
                    .col(ApiTokens::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottle::Table)
                    .col(
                        ColumnDef::new(LoginThrottle::Username)
                            .string_len(256)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(LoginThrottle::Failures).integer().not_null())
                    .col(
                        ColumnDef::new(LoginThrottle::WindowStart)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LoginThrottle::LockedUntil)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(AuditEvents::At).big_integer().not_null())
                    .col(
                        ColumnDef::new(AuditEvents::ActorUser)
                            .string_len(256)
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEvents::ActorToken).uuid().null())
                    .col(ColumnDef::new(AuditEvents::Source).string_len(64).null())
                    .col(
                        ColumnDef::new(AuditEvents::UserAgent)
                            .string_len(256)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::Action)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::Target).text().null())
                    .col(
                        ColumnDef::new(AuditEvents::Outcome)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::Reason).text().null())
                    .col(ColumnDef::new(AuditEvents::Details).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_action")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Action)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SystemSettings::Table)
                    .col(
                        ColumnDef::new(SystemSettings::Key)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SystemSettings::Value).text().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The audit log is never dropped by a migration.
        Err(DbErr::Migration(
            "the initial schema cannot be rolled back".to_owned(),
        ))
    }
}
