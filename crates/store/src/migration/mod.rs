//! Schema migrations, written once in sea-query and run on SQLite and PostgreSQL alike.
//! A migration, once released, never changes; a schema change is a new migration.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_identities_policy;
mod m0003_user_directory_link;
mod m0004_requests;
mod m0005_grants;
mod m0006_vendors;
mod m0007_findings;
mod m0008_audit_chain;
mod m0009_vault;
mod m0010_access_changes;

/// The list of migrations, oldest first.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_identities_policy::Migration),
            Box::new(m0003_user_directory_link::Migration),
            Box::new(m0004_requests::Migration),
            Box::new(m0005_grants::Migration),
            Box::new(m0006_vendors::Migration),
            Box::new(m0007_findings::Migration),
            Box::new(m0008_audit_chain::Migration),
            Box::new(m0009_vault::Migration),
            Box::new(m0010_access_changes::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "warden_migrations".into_iden()
    }
}
