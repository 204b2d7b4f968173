//! Identities as HR knows them: who someone is, where they sit, and whether they still
//! work here. Warden's decisions start from these attributes.

use std::collections::BTreeSet;
use std::fmt;

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::Username;
use crate::name::{NameError, check_name};

/// An HR employee id: 1 to 64 characters of `A-Z a-z 0-9 . _ -`, starting with a letter
/// or digit. Case is kept and significant, as HR systems issue it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmployeeId(String);

impl EmployeeId {
    /// The longest employee id.
    pub const MAX_LEN: usize = 64;

    /// Checks `raw` and wraps it.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        // Same alphabet as names, but case-sensitive: check the lower-cased form.
        check_name(&raw.to_ascii_lowercase(), Self::MAX_LEN)?;
        if let Some(found) = raw.chars().find(|c| !c.is_ascii()) {
            return Err(NameError::BadCharacter { found });
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmployeeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmployeeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmployeeId({:?})", self.0)
    }
}

/// Employment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EmploymentStatus {
    /// Working.
    Active,
    /// On leave: keeps identity, loses eligibility for privileged access.
    Leave,
    /// Gone.
    Terminated,
}

impl EmploymentStatus {
    /// Every status.
    pub const ALL: [Self; 3] = [Self::Active, Self::Leave, Self::Terminated];

    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Leave => "leave",
            Self::Terminated => "terminated",
        }
    }

    /// Parses the name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What kind of identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IdentityKind {
    /// An employee.
    Employee,
    /// A contractor.
    Contractor,
    /// A vendor's person, sponsored by an employee.
    Vendor,
    /// A service account.
    Service,
}

impl IdentityKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [
        Self::Employee,
        Self::Contractor,
        Self::Vendor,
        Self::Service,
    ];

    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "employee",
            Self::Contractor => "contractor",
            Self::Vendor => "vendor",
            Self::Service => "service",
        }
    }

    /// Parses the name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The HR attributes of a person or service, as synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HrRecord {
    /// HR's id for the person; the key of every sync.
    pub employee_id: EmployeeId,
    /// Login name, shared with the person's Warden user account if they have one.
    pub username: Username,
    /// Work e-mail.
    pub email: String,
    /// Full name.
    pub display_name: String,
    /// Department.
    pub department: Option<String>,
    /// Job function (title or family).
    pub job_function: Option<String>,
    /// The manager's employee id.
    pub manager: Option<EmployeeId>,
    /// Location (site or country).
    pub location: Option<String>,
    /// Employment status.
    pub status: EmploymentStatus,
    /// Employee, contractor, vendor or service.
    pub kind: IdentityKind,
    /// First day.
    pub start_date: Option<Date>,
    /// Last day.
    pub end_date: Option<Date>,
    /// Groups pushed by HR or an identity provider (SCIM), by display name.
    pub groups: BTreeSet<String>,
}

impl HrRecord {
    /// Whether the person has left at `today`: terminated, or past their last day.
    pub fn has_left(&self, today: Date) -> bool {
        self.status == EmploymentStatus::Terminated || self.end_date.is_some_and(|end| end < today)
    }

    /// Whether the person may hold or request access at `today`: active, started, not left.
    pub fn is_current(&self, today: Date) -> bool {
        self.status == EmploymentStatus::Active
            && !self.has_left(today)
            && self.start_date.is_none_or(|start| start <= today)
    }

    /// The value of a named attribute, as policy rules see it. Names: `employee_id`,
    /// `username`, `email`, `department`, `job_function`, `manager`, `location`, `status`,
    /// `kind`. Unknown names and absent values are `None`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        match name {
            "employee_id" => Some(self.employee_id.as_str()),
            "username" => Some(self.username.as_str()),
            "email" => Some(&self.email),
            "department" => self.department.as_deref(),
            "job_function" => self.job_function.as_deref(),
            "manager" => self.manager.as_ref().map(EmployeeId::as_str),
            "location" => self.location.as_deref(),
            "status" => Some(self.status.as_str()),
            "kind" => Some(self.kind.as_str()),
            _ => None,
        }
    }

    /// The attribute names of [`HrRecord::attribute`].
    pub const ATTRIBUTES: [&'static str; 9] = [
        "employee_id",
        "username",
        "email",
        "department",
        "job_function",
        "manager",
        "location",
        "status",
        "kind",
    ];
}

/// A stored identity: the HR record plus Warden's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Warden's id.
    pub id: Uuid,
    /// The HR attributes.
    pub hr: HrRecord,
    /// Where the record comes from: `hr-file` or `scim`.
    pub source: String,
    /// The identity provider's id for it (SCIM `externalId`).
    pub external_id: Option<String>,
    /// When Warden first saw it.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn record() -> HrRecord {
        HrRecord {
            employee_id: EmployeeId::parse("E1001").unwrap(),
            username: Username::parse("alice").unwrap(),
            email: "alice@example.com".into(),
            display_name: "Alice".into(),
            department: Some("Platform".into()),
            job_function: Some("SRE".into()),
            manager: None,
            location: None,
            status: EmploymentStatus::Active,
            kind: IdentityKind::Employee,
            start_date: Some(date!(2024 - 01 - 01)),
            end_date: Some(date!(2026 - 06 - 30)),
            groups: BTreeSet::new(),
        }
    }

    #[test]
    fn employee_ids_keep_case_and_refuse_separators() {
        assert_eq!(EmployeeId::parse("E-1001").unwrap().as_str(), "E-1001");
        assert!(EmployeeId::parse("E 1001").is_err());
        assert!(EmployeeId::parse("E,1001").is_err());
        assert!(EmployeeId::parse("").is_err());
        assert!(EmployeeId::parse("É1").is_err());
    }

    #[test]
    fn leaving_and_current() {
        let r = record();
        assert!(
            r.is_current(date!(2026 - 06 - 30)),
            "the last day still counts"
        );
        assert!(r.has_left(date!(2026 - 07 - 01)));
        assert!(!r.is_current(date!(2023 - 12 - 31)), "not started");
        let leave = HrRecord {
            status: EmploymentStatus::Leave,
            ..record()
        };
        assert!(!leave.is_current(date!(2025 - 01 - 01)) && !leave.has_left(date!(2025 - 01 - 01)));
        let gone = HrRecord {
            status: EmploymentStatus::Terminated,
            end_date: None,
            ..record()
        };
        assert!(gone.has_left(date!(2025 - 01 - 01)));
    }

    #[test]
    fn attributes_by_name() {
        let r = record();
        assert_eq!(r.attribute("department"), Some("Platform"));
        assert_eq!(r.attribute("kind"), Some("employee"));
        assert_eq!(r.attribute("manager"), None);
        assert_eq!(r.attribute("salary"), None);
    }
}
