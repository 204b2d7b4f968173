//! Table definitions as sea-orm entities. Times are stored as UTC milliseconds since the
//! Unix epoch (BIGINT on both backends), so ordering and comparison mean the same on
//! SQLite and PostgreSQL.

pub mod users {
    //! Local users.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(unique)]
        pub username: String,
        pub display_name: String,
        pub password_hash: Option<String>,
        pub scopes: String,
        pub disabled: bool,
        pub linked_to_directory: bool,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_tokens {
    //! API and session tokens: the SHA-256 of the secret, never the secret.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub name: String,
        pub kind: String,
        pub scopes: String,
        pub token_hash: Vec<u8>,
        pub created_at: i64,
        pub expires_at: i64,
        pub revoked_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod login_throttle {
    //! Failed-login counts per account name (existing or not).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_throttle")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub username: String,
        pub failures: i32,
        pub window_start: i64,
        pub locked_until: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_events {
    //! The audit log: append-only.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        #[sea_orm(unique)]
        pub id: Uuid,
        pub at: i64,
        pub actor_user: Option<String>,
        pub actor_token: Option<Uuid>,
        pub source: Option<String>,
        pub user_agent: Option<String>,
        pub action: String,
        pub target: Option<String>,
        pub outcome: String,
        pub reason: Option<String>,
        pub details: String,
        pub resource: Option<String>,
        pub request_id: Option<Uuid>,
        pub grant_id: Option<Uuid>,
        pub risk: Option<i32>,
        pub prev_hash: Option<Vec<u8>>,
        pub hash: Option<Vec<u8>>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_checkpoints {
    //! Signed heads of the audit chain.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_checkpoints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub hash: Vec<u8>,
        pub at: i64,
        pub key_id: String,
        pub signature: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_cursors {
    //! How far each SIEM export has delivered the audit log.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_cursors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sink: String,
        pub seq: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod system_settings {
    //! Server-wide facts such as when the server was initialised.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "system_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod identities {
    //! Identities from HR or SCIM. Dates are `YYYY-MM-DD` text.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(unique)]
        pub employee_id: String,
        #[sea_orm(unique)]
        pub username: String,
        pub email: String,
        pub display_name: String,
        pub department: Option<String>,
        pub job_function: Option<String>,
        pub manager: Option<String>,
        pub location: Option<String>,
        pub status: String,
        pub kind: String,
        pub start_date: Option<String>,
        pub end_date: Option<String>,
        pub source: String,
        pub external_id: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        pub change_seq: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod groups {
    //! Groups pushed by an identity provider.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "groups")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(unique)]
        pub display_name: String,
        pub external_id: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod group_members {
    //! Who is in which group.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "group_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub identity_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod birthright_assignments {
    //! Standing, non-privileged access given by birthright rules.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "birthright_assignments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub identity_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub resource: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub role: String,
        pub rule: String,
        pub assigned_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod access_jobs {
    //! The durable queue of changes to make on targets.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "access_jobs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub action: String,
        pub identity_id: Uuid,
        pub resource: String,
        pub role: String,
        pub reason: String,
        pub state: String,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub created_at: i64,
        pub due_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod policy_versions {
    //! Every applied policy, whole.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "policy_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub digest: String,
        pub files: String,
        pub comment: String,
        pub applied_by: String,
        pub applied_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod requests {
    //! Access requests.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub requester_id: Uuid,
        pub beneficiary_id: Uuid,
        pub requested_by: String,
        pub resource: String,
        pub role: String,
        pub duration_secs: i64,
        pub justification: String,
        pub ticket: Option<String>,
        pub rule: String,
        pub approval: String,
        pub route: String,
        pub risk_total: i32,
        pub risk_factors: String,
        pub state: String,
        pub created_at: i64,
        pub pending_until: i64,
        pub updated_at: i64,
        pub kind: String,
        pub extends: Option<Uuid>,
        pub review: Option<String>,
        pub review_justification: Option<String>,
        pub review_due_at: Option<i64>,
        pub start_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod approvals {
    //! Decisions (approve or deny) on requests.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "approvals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub request_id: Uuid,
        pub approver_id: Uuid,
        pub approver_employee_id: String,
        pub decision: String,
        pub capacity: String,
        pub comment: String,
        pub at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod grants {
    //! Grants: access on a target for an interval, and the queue of what is due.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "grants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub request_id: Uuid,
        pub identity_id: Uuid,
        pub resource: String,
        pub role: String,
        pub target_kind: String,
        pub connection: String,
        pub kind: String,
        pub state: String,
        pub duration_secs: i64,
        pub starts_at: Option<i64>,
        pub ends_at: Option<i64>,
        pub due_at: Option<i64>,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub handle: Option<String>,
        pub end_reason: Option<String>,
        pub warned: bool,
        pub created_at: i64,
        pub updated_at: i64,
        pub change_seq: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod outbox {
    //! Notifications waiting for delivery, written with the change they announce.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub channel: String,
        pub event: String,
        pub payload: String,
        pub created_at: i64,
        pub due_at: Option<i64>,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub delivered_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod reviews {
    //! Post-facto reviews of break-glass grants.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reviews")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub request_id: Uuid,
        pub reviewer_id: Uuid,
        pub reviewer_employee_id: String,
        pub capacity: String,
        pub verdict: String,
        pub comment: String,
        pub at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod incidents {
    //! Security incidents opened by unjustified break-glass use.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "incidents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub request_id: Uuid,
        pub opened_at: i64,
        pub reason: String,
        pub state: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod recorded_access {
    //! Access held on targets by the recording connector.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "recorded_access")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub identity_id: Uuid,
        pub resource: String,
        pub role: String,
        pub until: i64,
        pub granted_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod connector_calls {
    //! Every call the recording connector received.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_calls")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub at: i64,
        pub op: String,
        pub identity_id: Uuid,
        pub resource: String,
        pub role: String,
        pub grant_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod vendor_accounts {
    //! Sponsored, temporary vendor accounts.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "vendor_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub identity_id: Uuid,
        pub sponsor_id: Uuid,
        pub company: String,
        pub created_at: i64,
        pub deactivated_at: Option<i64>,
        pub delete_after: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod findings {
    //! Privileged access found on targets that Warden did not grant.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "findings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub resource: String,
        pub account: String,
        pub privileges: String,
        pub state: String,
        pub first_seen: i64,
        pub last_seen: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod leases {
    //! Which replica runs a singleton worker, and until when.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "leases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub owner: Uuid,
        pub until: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod vault_meta {
    //! The vault's one row: its id, how it is unsealed, and its root key sealed by the
    //! unseal key.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "vault_meta")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub vault_id: String,
        pub unseal_mode: String,
        pub threshold: i32,
        pub share_count: i32,
        pub root_version: i64,
        pub root_wrapped: Vec<u8>,
        pub active_data_key: i64,
        pub created_at: i64,
        pub rotated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod vault_keys {
    //! Data keys, each wrapped by a version of the root key.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "vault_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub root_version: i64,
        pub wrapped: Vec<u8>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod vault_accounts {
    //! Accounts on targets whose passwords the vault keeps and rotates.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "vault_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub connection: String,
        pub username: String,
        pub resource: Option<String>,
        pub roles: String,
        pub groups: String,
        pub checkout_max_secs: i64,
        pub exclusive: bool,
        pub rotate_every_secs: i64,
        pub password_length: i32,
        pub password_symbols: bool,
        pub version: i64,
        pub next_rotation_at: i64,
        pub rotation_failures: i32,
        pub last_rotated_at: Option<i64>,
        pub last_error: Option<String>,
        pub lock_seq: i64,
        pub created_at: i64,
        pub created_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod vault_secrets {
    //! The versions of a vaulted account's secret, as envelopes.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "vault_secrets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub key_id: i64,
        pub envelope: Vec<u8>,
        pub state: String,
        pub created_at: i64,
        pub committed_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod vault_checkouts {
    //! Who took a vaulted secret, under which grant, and when they gave it back.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "vault_checkouts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub account_id: Uuid,
        pub grant_id: Option<Uuid>,
        pub username: String,
        pub version: i64,
        pub exclusive: bool,
        pub checked_out_at: i64,
        pub expires_at: i64,
        pub checked_in_at: Option<i64>,
        pub checkin_reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
