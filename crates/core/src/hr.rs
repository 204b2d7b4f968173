//! HR synchronisation rules: checking a full population before anything is written, and
//! classifying what changed for each person (joiner, mover, leaver).

use std::collections::{BTreeMap, HashMap, HashSet};

use time::Date;

use crate::identity::{EmployeeId, HrRecord};

/// One problem in a sync file, located for the person who fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncProblem {
    /// Where: `line 4` (CSV) or `record 3` (JSON).
    pub at: String,
    /// The field, when one field is at fault.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SyncProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {}: {}", self.at, field, self.message),
            None => write!(f, "{}: {}", self.at, self.message),
        }
    }
}

/// A record with where it came from.
#[derive(Debug, Clone)]
pub struct LocatedRecord {
    /// `line N` or `record N`.
    pub at: String,
    /// The record.
    pub record: HrRecord,
}

/// Checks a full population: unique employee ids, user names and e-mails; every manager
/// is in the population and is not the person; no chain of managers loops. Returns every
/// problem found.
pub fn validate_population(rows: &[LocatedRecord]) -> Vec<SyncProblem> {
    let mut problems = Vec::new();
    let mut first_at: HashMap<&EmployeeId, &str> = HashMap::new();
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut emails: HashMap<String, &str> = HashMap::new();
    for row in rows {
        let r = &row.record;
        let problem = |field: &str, message: String| SyncProblem {
            at: row.at.clone(),
            field: Some(field.to_owned()),
            message,
        };
        if let Some(prev) = first_seen(&mut first_at, &r.employee_id, &row.at) {
            problems.push(problem(
                "employee_id",
                format!("{} appears again (first at {prev})", r.employee_id),
            ));
        }
        if let Some(prev) = first_seen(&mut names, r.username.as_str(), &row.at) {
            problems.push(problem(
                "username",
                format!("{} is already used at {prev}", r.username),
            ));
        }
        if let Some(prev) = first_seen(&mut emails, r.email.to_ascii_lowercase(), &row.at) {
            problems.push(problem(
                "email",
                format!("{} is already used at {prev}", r.email),
            ));
        }
    }
    let managers: HashMap<&EmployeeId, &EmployeeId> = rows
        .iter()
        .filter_map(|row| {
            row.record
                .manager
                .as_ref()
                .map(|m| (&row.record.employee_id, m))
        })
        .collect();
    for row in rows {
        let r = &row.record;
        let Some(manager) = &r.manager else { continue };
        let problem = |message: String| SyncProblem {
            at: row.at.clone(),
            field: Some("manager".to_owned()),
            message,
        };
        if manager == &r.employee_id {
            problems.push(problem(format!(
                "{} cannot be their own manager",
                r.employee_id
            )));
        } else if !first_at.contains_key(manager) {
            problems.push(problem(format!("manager {manager} is not in the file")));
        }
    }
    // Cycles: walk up from each person; a walk that comes back to a person it passed loops.
    let mut reported: HashSet<&EmployeeId> = HashSet::new();
    for row in rows {
        let start = &row.record.employee_id;
        let mut seen: Vec<&EmployeeId> = vec![start];
        let mut at = start;
        while let Some(next) = managers.get(at) {
            if *next == at {
                break; // self-management, reported above
            }
            if let Some(pos) = seen.iter().position(|e| *e == *next) {
                let cycle: Vec<&EmployeeId> =
                    seen.get(pos..).map(<[_]>::to_vec).unwrap_or_default();
                if cycle.iter().all(|e| reported.insert(e)) {
                    let chain: Vec<String> = cycle
                        .iter()
                        .chain(std::iter::once(next))
                        .map(|e| e.to_string())
                        .collect();
                    let at = first_at
                        .get(*next)
                        .map_or_else(|| row.at.clone(), |a| (*a).to_owned());
                    problems.push(SyncProblem {
                        at,
                        field: Some("manager".to_owned()),
                        message: format!("managers form a cycle: {}", chain.join(" -> ")),
                    });
                }
                break;
            }
            seen.push(next);
            at = next;
        }
    }
    problems
}

/// Records where `key` was first seen; returns that place when this is a repeat.
fn first_seen<'a, K: std::hash::Hash + Eq>(
    seen: &mut HashMap<K, &'a str>,
    key: K,
    at: &'a str,
) -> Option<&'a str> {
    match seen.entry(key) {
        std::collections::hash_map::Entry::Occupied(first) => Some(*first.get()),
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(at);
            None
        }
    }
}

/// An attribute that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeChange {
    /// Attribute name (see [`HrRecord::attribute`]).
    pub name: &'static str,
    /// Old value.
    pub from: Option<String>,
    /// New value.
    pub to: Option<String>,
}

impl std::fmt::Display for AttributeChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        write!(
            f,
            "{}: {} -> {}",
            self.name,
            show(&self.from),
            show(&self.to)
        )
    }
}

/// What a sync means for one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// New to Warden.
    Joiner,
    /// Back after having left.
    Rejoiner,
    /// An attribute that access depends on changed (department, job function, manager,
    /// location, kind, status other than leaving, groups).
    Mover(Vec<AttributeChange>),
    /// Left: terminated, or past the last day.
    Leaver(Vec<AttributeChange>),
    /// Only attributes access does not depend on changed (name, e-mail, dates).
    Updated(Vec<AttributeChange>),
    /// Nothing changed.
    Unchanged,
}

impl Lifecycle {
    /// Short name: `joiner`, `rejoiner`, `mover`, `leaver`, `updated`, `unchanged`.
    pub fn name(&self) -> &'static str {
        match self {
            Lifecycle::Joiner => "joiner",
            Lifecycle::Rejoiner => "rejoiner",
            Lifecycle::Mover(_) => "mover",
            Lifecycle::Leaver(_) => "leaver",
            Lifecycle::Updated(_) => "updated",
            Lifecycle::Unchanged => "unchanged",
        }
    }

    /// The attribute changes, if any.
    pub fn changes(&self) -> &[AttributeChange] {
        match self {
            Lifecycle::Mover(c) | Lifecycle::Leaver(c) | Lifecycle::Updated(c) => c,
            _ => &[],
        }
    }
}

/// The attributes whose change can change access.
const ACCESS_ATTRIBUTES: [&str; 6] = [
    "department",
    "job_function",
    "manager",
    "location",
    "kind",
    "status",
];

/// Classifies the change from `old` (as stored, with the day it was last processed) to
/// `new` (as synced) at `today`. Judging the old record as of its own day matters: a last
/// day that passes with nothing else changing is still a leaver.
pub fn classify(old: Option<(&HrRecord, Date)>, new: &HrRecord, today: Date) -> Lifecycle {
    let Some((old, old_as_of)) = old else {
        return if new.has_left(today) {
            Lifecycle::Leaver(Vec::new())
        } else {
            Lifecycle::Joiner
        };
    };
    let mut changes: Vec<AttributeChange> = HrRecord::ATTRIBUTES
        .iter()
        .filter(|name| old.attribute(name) != new.attribute(name))
        .map(|name| AttributeChange {
            name,
            from: old.attribute(name).map(str::to_owned),
            to: new.attribute(name).map(str::to_owned),
        })
        .collect();
    let date = |d: Option<Date>| d.map(|d| d.to_string());
    for (name, from, to) in [
        ("start_date", old.start_date, new.start_date),
        ("end_date", old.end_date, new.end_date),
    ] {
        if from != to {
            changes.push(AttributeChange {
                name,
                from: date(from),
                to: date(to),
            });
        }
    }
    if old.display_name != new.display_name {
        changes.push(AttributeChange {
            name: "display_name",
            from: Some(old.display_name.clone()),
            to: Some(new.display_name.clone()),
        });
    }
    if old.groups != new.groups {
        let join = |g: &std::collections::BTreeSet<String>| {
            Some(g.iter().cloned().collect::<Vec<_>>().join(","))
        };
        changes.push(AttributeChange {
            name: "groups",
            from: join(&old.groups),
            to: join(&new.groups),
        });
    }
    let (was_gone, is_gone) = (old.has_left(old_as_of), new.has_left(today));
    if !was_gone && is_gone {
        return Lifecycle::Leaver(changes);
    }
    if was_gone && !is_gone {
        return Lifecycle::Rejoiner;
    }
    if changes.is_empty() {
        return Lifecycle::Unchanged;
    }
    if changes
        .iter()
        .any(|c| ACCESS_ATTRIBUTES.contains(&c.name) || c.name == "groups")
    {
        Lifecycle::Mover(changes)
    } else {
        Lifecycle::Updated(changes)
    }
}

/// Counts of each lifecycle, for summaries.
pub fn summarise<'a>(
    items: impl IntoIterator<Item = &'a Lifecycle>,
) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts.entry(item.name()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Username;
    use crate::identity::{EmploymentStatus, IdentityKind};
    use std::collections::BTreeSet;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 03 - 01);

    fn rec(id: &str, manager: Option<&str>) -> HrRecord {
        HrRecord {
            employee_id: EmployeeId::parse(id).unwrap(),
            username: Username::parse(&id.to_ascii_lowercase()).unwrap(),
            email: format!("{id}@example.com"),
            display_name: id.to_owned(),
            department: Some("Platform".into()),
            job_function: Some("SRE".into()),
            manager: manager.map(|m| EmployeeId::parse(m).unwrap()),
            location: None,
            status: EmploymentStatus::Active,
            kind: IdentityKind::Employee,
            start_date: None,
            end_date: None,
            groups: BTreeSet::new(),
        }
    }

    fn rows(records: Vec<HrRecord>) -> Vec<LocatedRecord> {
        records
            .into_iter()
            .enumerate()
            .map(|(i, record)| LocatedRecord {
                at: format!("line {}", i + 2),
                record,
            })
            .collect()
    }

    fn problems(records: Vec<HrRecord>) -> Vec<String> {
        validate_population(&rows(records))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_clean_population_has_no_problems() {
        assert!(
            problems(vec![
                rec("E1", None),
                rec("E2", Some("E1")),
                rec("E3", Some("E2"))
            ])
            .is_empty()
        );
    }

    #[test]
    fn duplicates_are_reported_with_both_places() {
        let mut dup_name = rec("E3", None);
        dup_name.username = Username::parse("e1").unwrap();
        let mut dup_mail = rec("E4", None);
        dup_mail.email = "E1@EXAMPLE.com".into();
        assert_eq!(
            problems(vec![rec("E1", None), rec("E1", None), dup_name, dup_mail]),
            [
                "line 3: employee_id: E1 appears again (first at line 2)",
                "line 3: username: e1 is already used at line 2",
                "line 3: email: E1@example.com is already used at line 2",
                "line 4: username: e1 is already used at line 2",
                "line 5: email: E1@EXAMPLE.com is already used at line 2",
            ]
        );
    }

    #[test]
    fn unknown_and_self_managers_are_reported() {
        assert_eq!(
            problems(vec![rec("E1", Some("E9")), rec("E2", Some("E2"))]),
            [
                "line 2: manager: manager E9 is not in the file",
                "line 3: manager: E2 cannot be their own manager"
            ]
        );
    }

    #[test]
    fn manager_cycles_are_reported_once() {
        let found = problems(vec![
            rec("E1", Some("E3")),
            rec("E2", Some("E1")),
            rec("E3", Some("E2")),
            rec("E4", Some("E1")),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("managers form a cycle: E1 -> E3 -> E2 -> E1"),
            "{found:?}"
        );
    }

    #[test]
    fn lifecycle_classification() {
        let base = rec("E1", None);
        let then = |r| Some((r, TODAY));
        assert_eq!(classify(None, &base, TODAY), Lifecycle::Joiner);
        assert_eq!(classify(then(&base), &base, TODAY), Lifecycle::Unchanged);

        let moved = HrRecord {
            department: Some("Payments".into()),
            ..base.clone()
        };
        let Lifecycle::Mover(changes) = classify(then(&base), &moved, TODAY) else {
            panic!()
        };
        assert_eq!(changes[0].to_string(), "department: Platform -> Payments");

        let renamed = HrRecord {
            display_name: "E One".into(),
            ..base.clone()
        };
        assert_eq!(classify(then(&base), &renamed, TODAY).name(), "updated");

        let terminated = HrRecord {
            status: EmploymentStatus::Terminated,
            ..base.clone()
        };
        assert_eq!(classify(then(&base), &terminated, TODAY).name(), "leaver");
        let ended = HrRecord {
            end_date: Some(date!(2026 - 02 - 28)),
            ..base.clone()
        };
        assert_eq!(
            classify(then(&base), &ended, TODAY).name(),
            "leaver",
            "last day passed"
        );
        let ends_today = HrRecord {
            end_date: Some(TODAY),
            ..base.clone()
        };
        assert_eq!(
            classify(then(&base), &ends_today, TODAY).name(),
            "updated",
            "still here today"
        );
        assert_eq!(
            classify(then(&terminated), &base, TODAY),
            Lifecycle::Rejoiner
        );
        assert_eq!(
            classify(then(&terminated), &terminated, TODAY),
            Lifecycle::Unchanged
        );
        assert_eq!(
            classify(None, &terminated, TODAY).name(),
            "leaver",
            "arrives already gone"
        );

        // The last day passes with no change in HR data: a leaver all the same.
        let contract = HrRecord {
            end_date: Some(date!(2026 - 03 - 31)),
            ..base.clone()
        };
        let later = date!(2026 - 04 - 01);
        assert_eq!(
            classify(Some((&contract, TODAY)), &contract, later).name(),
            "leaver"
        );
        assert_eq!(
            classify(Some((&contract, later)), &contract, later),
            Lifecycle::Unchanged,
            "processed once"
        );

        let on_leave = HrRecord {
            status: EmploymentStatus::Leave,
            ..base.clone()
        };
        assert_eq!(classify(then(&base), &on_leave, TODAY).name(), "mover");
        let grouped = HrRecord {
            groups: BTreeSet::from(["SRE Team".to_owned()]),
            ..base.clone()
        };
        assert_eq!(classify(then(&base), &grouped, TODAY).name(), "mover");
    }
}
