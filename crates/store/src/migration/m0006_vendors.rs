//! Sponsored vendor accounts: temporary, enabled only while a grant runs, deleted after a
//! retention period.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum VendorAccounts {
    Table,
    IdentityId,
    SponsorId,
    Company,
    CreatedAt,
    DeactivatedAt,
    DeleteAfter,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(VendorAccounts::Table)
                    .col(
                        ColumnDef::new(VendorAccounts::IdentityId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(VendorAccounts::SponsorId).uuid().not_null())
                    .col(ColumnDef::new(VendorAccounts::Company).text().not_null())
                    .col(
                        ColumnDef::new(VendorAccounts::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(VendorAccounts::DeactivatedAt)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(VendorAccounts::DeleteAfter)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "vendor accounts are not rolled back".to_owned(),
        ))
    }
}
