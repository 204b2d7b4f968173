//! Reconciliation findings: privileged access found on a target that Warden did not
//! grant, one row per resource and account, kept while it is seen.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Findings {
    Table,
    Id,
    Resource,
    Account,
    Privileges,
    State,
    FirstSeen,
    LastSeen,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Findings::Table)
                    .col(ColumnDef::new(Findings::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Findings::Resource).text().not_null())
                    .col(ColumnDef::new(Findings::Account).text().not_null())
                    .col(ColumnDef::new(Findings::Privileges).text().not_null())
                    .col(ColumnDef::new(Findings::State).text().not_null())
                    .col(ColumnDef::new(Findings::FirstSeen).big_integer().not_null())
                    .col(ColumnDef::new(Findings::LastSeen).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_findings_account")
                    .table(Findings::Table)
                    .col(Findings::Resource)
                    .col(Findings::Account)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("findings are not rolled back".to_owned()))
    }
}
