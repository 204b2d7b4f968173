//! Whether a Warden user follows the directory (disabled when the identity with its user
//! name leaves). The initial administrator is a local break-glass account and does not.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Username,
    LinkedToDirectory,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::LinkedToDirectory)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .to_owned(),
            )
            .await?;
        let unlink = Query::update()
            .table(Users::Table)
            .value(Users::LinkedToDirectory, false)
            .and_where(Expr::col(Users::Username).eq("admin"))
            .to_owned();
        manager.exec_stmt(unlink).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the directory link of users is not rolled back".to_owned(),
        ))
    }
}
