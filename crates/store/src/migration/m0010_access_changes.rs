//! The change stream of access: a counter every transaction that writes grants or
//! identities moves (row `access` of `change_counters`), and the value it moved to on each
//! row it wrote (`change_seq`). A replica keeps its in-memory index of active grants
//! current by reading the rows whose `change_seq` is past the one it has seen.
//!
//! Rows written before this migration keep `change_seq` 0: an index starts from a full
//! read of the active grants, which includes them.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Grants {
    Table,
    ChangeSeq,
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    ChangeSeq,
}

#[derive(DeriveIden)]
enum ChangeCounters {
    Table,
    Name,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Grants::Table.into_iden(), Identities::Table.into_iden()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table.clone())
                        .add_column(
                            ColumnDef::new(Grants::ChangeSeq)
                                .big_integer()
                                .not_null()
                                .default(0),
                        )
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_grants_change_seq")
                    .table(Grants::Table)
                    .col(Grants::ChangeSeq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_identities_change_seq")
                    .table(Identities::Table)
                    .col(Identities::ChangeSeq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChangeCounters::Table)
                    .col(
                        ColumnDef::new(ChangeCounters::Name)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ChangeCounters::Value)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        let mut row = Query::insert();
        row.into_table(ChangeCounters::Table)
            .columns([ChangeCounters::Name, ChangeCounters::Value])
            .values(["access".into(), 0_i64.into()])
            .map_err(|e| DbErr::Migration(e.to_string()))?;
        manager.exec_stmt(row.to_owned()).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the access change stream is not rolled back".to_owned(),
        ))
    }
}
