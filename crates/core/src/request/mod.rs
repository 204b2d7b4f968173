//! Access requests and grants: risk, approvals, lifecycle (being written).
