//! Access requests and the decisions on them.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Requests {
    Table,
    Id,
    RequesterId,
    BeneficiaryId,
    RequestedBy,
    Resource,
    Role,
    DurationSecs,
    Justification,
    Ticket,
    Rule,
    Approval,
    Route,
    RiskTotal,
    RiskFactors,
    State,
    CreatedAt,
    PendingUntil,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Approvals {
    Table,
    Id,
    RequestId,
    ApproverId,
    ApproverEmployeeId,
    Decision,
    Capacity,
    Comment,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // Long: a migration is a schema definition read as one piece, table after table;
    // splitting it would only scatter the schema, and a released migration never changes.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Requests::Table)
                    .col(ColumnDef::new(Requests::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Requests::RequesterId).uuid().not_null())
                    .col(ColumnDef::new(Requests::BeneficiaryId).uuid().not_null())
                    .col(
                        ColumnDef::new(Requests::RequestedBy)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Requests::Resource).string_len(64).not_null())
                    .col(ColumnDef::new(Requests::Role).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Requests::DurationSecs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Requests::Justification).text().not_null())
                    .col(ColumnDef::new(Requests::Ticket).text().null())
                    .col(ColumnDef::new(Requests::Rule).text().not_null())
                    .col(ColumnDef::new(Requests::Approval).text().not_null())
                    .col(ColumnDef::new(Requests::Route).string_len(16).not_null())
                    .col(ColumnDef::new(Requests::RiskTotal).integer().not_null())
                    .col(ColumnDef::new(Requests::RiskFactors).text().not_null())
                    .col(ColumnDef::new(Requests::State).string_len(16).not_null())
                    .col(ColumnDef::new(Requests::CreatedAt).big_integer().not_null())
                    .col(
                        ColumnDef::new(Requests::PendingUntil)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Requests::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_requests_state")
                    .table(Requests::Table)
                    .col(Requests::State)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_requests_beneficiary")
                    .table(Requests::Table)
                    .col(Requests::BeneficiaryId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Approvals::Table)
                    .col(
                        ColumnDef::new(Approvals::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Approvals::RequestId).uuid().not_null())
                    .col(ColumnDef::new(Approvals::ApproverId).uuid().not_null())
                    .col(
                        ColumnDef::new(Approvals::ApproverEmployeeId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Approvals::Decision)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Approvals::Capacity).text().not_null())
                    .col(ColumnDef::new(Approvals::Comment).text().not_null())
                    .col(ColumnDef::new(Approvals::At).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_approvals_request")
                            .from(Approvals::Table, Approvals::RequestId)
                            .to(Requests::Table, Requests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                // One decision per person per request: the same person cannot count twice.
                Index::create()
                    .name("ux_approvals_request_approver")
                    .table(Approvals::Table)
                    .col(Approvals::RequestId)
                    .col(Approvals::ApproverId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("requests are not rolled back".to_owned()))
    }
}
