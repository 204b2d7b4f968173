//! Indexes built once when a policy is compiled, so that a request looks only at what can
//! concern it: group membership by employee id, HR group and attribute value; eligibility
//! rules by principal, then role, then resource name or kind.

use std::collections::HashMap;

use super::model::{EligibilityRule, Group, Membership, Principal, ResourceKind};
use crate::identity::HrRecord;

/// Finds the policy groups of an identity without looking at every group.
#[derive(Debug, Default)]
pub struct GroupIndex {
    by_member: HashMap<String, Vec<u32>>,
    by_external: HashMap<String, Vec<u32>>,
    /// Rule groups, each filed under one of its attributes (position in
    /// `HrRecord::ATTRIBUTES`) and every value that attribute accepts.
    by_attribute: Vec<HashMap<String, Vec<u32>>>,
}

impl GroupIndex {
    pub fn new(groups: &[Group]) -> Self {
        let mut index = Self {
            by_attribute: vec![HashMap::new(); HrRecord::ATTRIBUTES.len()],
            ..Self::default()
        };
        for (id, group) in (0u32..).zip(groups) {
            match &group.membership {
                Membership::Members(ids) => {
                    for m in ids {
                        index
                            .by_member
                            .entry(m.as_str().to_owned())
                            .or_default()
                            .push(id);
                    }
                }
                Membership::External(name) => {
                    index.by_external.entry(name.clone()).or_default().push(id)
                }
                Membership::Rule(keys) => {
                    // File under the attribute with the fewest accepted values: fewer false
                    // candidates per lookup.
                    let chosen = keys
                        .iter()
                        .filter_map(|(k, v)| {
                            Some((HrRecord::ATTRIBUTES.iter().position(|a| a == k)?, v))
                        })
                        .min_by_key(|(_, v)| v.len());
                    if let Some((attr, values)) = chosen
                        && let Some(map) = index.by_attribute.get_mut(attr)
                    {
                        for v in values {
                            map.entry(v.clone()).or_default().push(id);
                        }
                    }
                }
            }
        }
        index
    }

    /// Ids of the groups `who` belongs to, ascending.
    pub fn of(&self, who: &HrRecord, groups: &[Group]) -> Vec<u32> {
        let mut out = Vec::new();
        if let Some(ids) = self.by_member.get(who.employee_id.as_str()) {
            out.extend_from_slice(ids);
        }
        for g in &who.groups {
            if let Some(ids) = self.by_external.get(g) {
                out.extend_from_slice(ids);
            }
        }
        for (attr, map) in HrRecord::ATTRIBUTES.iter().zip(&self.by_attribute) {
            if map.is_empty() {
                continue;
            }
            let Some(value) = who.attribute(attr) else {
                continue;
            };
            for id in map.get(value).into_iter().flatten() {
                let matches = groups
                    .get(*id as usize)
                    .is_some_and(|g| match &g.membership {
                        Membership::Rule(keys) => rule_matches(keys, who),
                        _ => false,
                    });
                if matches {
                    out.push(*id);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Whether every attribute of a group rule matches `who`.
pub fn rule_matches(
    keys: &std::collections::BTreeMap<String, Vec<String>>,
    who: &HrRecord,
) -> bool {
    keys.iter().all(|(k, values)| {
        who.attribute(k)
            .is_some_and(|v| values.iter().any(|want| want == v))
    })
}

/// Rules of one principal and role, by what they select.
#[derive(Debug, Default)]
struct Bucket {
    /// Rules that name their resources.
    by_name: HashMap<String, Vec<u32>>,
    /// The other rules, under every kind they can reach.
    by_kind: [Vec<u32>; 4],
}

type ByRole = HashMap<String, Bucket>;

/// Eligibility rules by principal, role, and resource name or kind.
#[derive(Debug, Default)]
pub struct RuleIndex {
    everyone: ByRole,
    by_group: Vec<ByRole>,
    by_identity: HashMap<String, ByRole>,
}

impl RuleIndex {
    pub fn new(
        rules: &[EligibilityRule],
        group_id: &HashMap<String, usize>,
        group_count: usize,
    ) -> Self {
        let mut index = Self {
            by_group: (0..group_count).map(|_| ByRole::new()).collect(),
            ..Self::default()
        };
        for (id, rule) in (0u32..).zip(rules) {
            let by_role = match &rule.who {
                Principal::Everyone => Some(&mut index.everyone),
                Principal::Identity(e) => {
                    Some(index.by_identity.entry(e.as_str().to_owned()).or_default())
                }
                Principal::Group(g) => group_id.get(g).and_then(|i| index.by_group.get_mut(*i)),
            };
            let Some(by_role) = by_role else { continue };
            for role in &rule.roles {
                let bucket = by_role.entry(role.clone()).or_default();
                let sel = &rule.resources;
                if !sel.names.is_empty() {
                    for n in &sel.names {
                        bucket.by_name.entry(n.clone()).or_default().push(id);
                    }
                } else {
                    for kind in ResourceKind::ALL {
                        if (sel.kinds.is_empty() || sel.kinds.contains(&kind))
                            && let Some(list) = bucket.by_kind.get_mut(kind.slot())
                        {
                            list.push(id);
                        }
                    }
                }
            }
        }
        index
    }

    /// Appends to `out` the ids of the rules that could grant `role` on a resource named
    /// `resource` of `kind` to an identity with `employee_id` in `groups`. Unsorted, may
    /// repeat; resource selectors other than name and kind are not yet checked.
    pub fn candidates(
        &self,
        groups: &[u32],
        employee_id: &str,
        role: &str,
        resource: &str,
        kind: ResourceKind,
        out: &mut Vec<u32>,
    ) {
        let mut take = |by_role: &ByRole| {
            if let Some(bucket) = by_role.get(role) {
                if let Some(ids) = bucket.by_name.get(resource) {
                    out.extend_from_slice(ids);
                }
                if let Some(ids) = bucket.by_kind.get(kind.slot()) {
                    out.extend_from_slice(ids);
                }
            }
        };
        take(&self.everyone);
        if let Some(by_role) = self.by_identity.get(employee_id) {
            take(by_role);
        }
        for g in groups {
            if let Some(by_role) = self.by_group.get(*g as usize) {
                take(by_role);
            }
        }
    }
}
