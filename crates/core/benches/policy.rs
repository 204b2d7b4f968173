//! Latency of the eligibility check on the request path at scale: a synthetic policy of
//! 10,000 eligibility rules (hundreds of groups, thousands of resources, some rules with
//! Cedar conditions or allowed hours) and 100,000 identities in memory, then 200,000
//! `Policy::check` calls on random queries, timed one by one. Prints p50, p99 and max.
//!
//! Run with `cargo bench -p warden-core --bench policy`.

// A benchmark whose set-up fails should stop loudly; it prints its results; its tables are
// indexed by numbers it generated within their bounds.
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use time::Duration;
use time::macros::{date, datetime};
use warden_core::Username;
use warden_core::identity::{EmployeeId, EmploymentStatus, HrRecord, IdentityKind};
use warden_core::policy::{
    AccessQuery, Decision, PolicySource, Principal, RequestContext, compile,
};

const RESOURCES: usize = 3_000;
const RULE_GROUPS: usize = 100;
const MEMBER_GROUPS: usize = 100;
const EXTERNAL_GROUPS: usize = 100;
const GROUPS: usize = RULE_GROUPS + MEMBER_GROUPS + EXTERNAL_GROUPS;
const RULES: usize = 10_000;
const IDENTITIES: usize = 100_000;
const QUERIES: usize = 200_000;
const DEPARTMENTS: usize = 120;
const JOBS: usize = 15;

const KINDS: [&str; 4] = ["postgres", "mariadb", "redis", "ssh"];
const ENVIRONMENTS: [&str; 3] = ["prod", "staging", "dev"];

fn roles_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "postgres" | "mariadb" => &["read", "write", "admin"],
        "redis" => &["read", "admin"],
        _ => &["login", "root"],
    }
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn resource_kind(i: usize) -> &'static str {
    KINDS[i % KINDS.len()]
}

fn resources_file() -> String {
    let mut s = String::new();
    for i in 0..RESOURCES {
        writeln!(
            s,
            "[[resource]]\nname = \"r{i}\"\nkind = \"{}\"\nconnection = \"c{i}\"\nenvironment = \"{}\"\ntier = {}\nowner = \"group:g{}\"\ntags = {{ team = \"t{}\" }}\n",
            resource_kind(i),
            ENVIRONMENTS[i % 3],
            (i / 4) % 4,
            i % GROUPS,
            i % 50,
        )
        .expect("write");
    }
    for kind in KINDS {
        for (n, role) in roles_of(kind).iter().enumerate() {
            let privilege = ["read", "write", "admin"][n.min(2)];
            writeln!(
                s,
                "[[role]]\nkind = \"{kind}\"\nname = \"{role}\"\nprivilege = \"{privilege}\"\n"
            )
            .expect("write");
        }
    }
    s
}

fn groups_file(rng: &mut Rng) -> String {
    let mut s = String::new();
    for g in 0..GROUPS {
        if g < RULE_GROUPS {
            writeln!(
                s,
                "[[group]]\nname = \"g{g}\"\nrule = {{ department = \"d{}\", job_function = [\"j{}\", \"j{}\"] }}\n",
                g % DEPARTMENTS,
                g % JOBS,
                (g + 1) % JOBS
            )
            .expect("write");
        } else if g < RULE_GROUPS + MEMBER_GROUPS {
            let members: Vec<String> = (0..50)
                .map(|_| format!("\"E{}\"", rng.below(IDENTITIES)))
                .collect();
            writeln!(
                s,
                "[[group]]\nname = \"g{g}\"\nmembers = [{}]\n",
                members.join(", ")
            )
            .expect("write");
        } else {
            writeln!(s, "[[group]]\nname = \"g{g}\"\nexternal = \"Team {g}\"\n").expect("write");
        }
    }
    for (name, auto, dual) in [("standard", 30, 70), ("low", 50, 90), ("strict", 0, 0)] {
        writeln!(
            s,
            "[[approval]]\nname = \"{name}\"\nauto_below = {auto}\ndual_from = {dual}\napprovers = [\"manager\", \"owner\", \"group:g7\"]\nsecurity_group = \"g3\"\npending_timeout = \"24h\"\n"
        )
        .expect("write");
    }
    s
}

fn rules_file(rng: &mut Rng) -> String {
    let conditions = [
        "context has mfa_age_secs && context.mfa_age_secs < 900",
        "context.hour >= 6 && context.hour < 22",
        "principal has location && principal.location != \"L3\"",
        "context.privilege != \"admin\" || context.has_ticket",
        "resource.tier > 0 || (context has risk && context.risk < 40)",
    ];
    let mut s = String::new();
    for i in 0..RULES {
        let who = match i % 50 {
            0 => "everyone".to_owned(),
            1..=4 => format!("identity:E{}", rng.below(IDENTITIES)),
            _ => format!("group:g{}", rng.below(GROUPS)),
        };
        let kind_slot = rng.below(4);
        let kind = KINDS[kind_slot];
        let kind_roles = roles_of(kind);
        let mut roles: BTreeSet<&str> = BTreeSet::new();
        for _ in 0..=rng.below(kind_roles.len()) {
            roles.insert(*rng.pick(kind_roles));
        }
        let roles: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
        let resources = match rng.below(10) {
            0..=3 => {
                // A few named resources of the chosen kind.
                let names: Vec<String> = (0..=rng.below(4))
                    .map(|_| format!("\"r{}\"", rng.below(RESOURCES / 4) * 4 + kind_slot))
                    .collect();
                format!("{{ names = [{}] }}", names.join(", "))
            }
            4..=7 => format!(
                "{{ kinds = [\"{kind}\"], tiers = [{}, {}], environments = [\"{}\"] }}",
                rng.below(4),
                rng.below(4),
                ENVIRONMENTS[rng.below(3)]
            ),
            _ => format!(
                "{{ kinds = [\"{kind}\"], tags = {{ team = \"t{}\" }} }}",
                rng.below(50)
            ),
        };
        let extra = match i % 10 {
            0 => format!("when = '{}'\n", rng.pick(&conditions)),
            1 => "hours = { days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"], from = \"07:00\", to = \"19:00\", utc_offset = \"+01:00\" }\n".to_owned(),
            2 => "ticket = \"required\"\n".to_owned(),
            _ => String::new(),
        };
        writeln!(
            s,
            "[[eligibility]]\nname = \"rule{i}\"\nwho = \"{who}\"\nroles = [{}]\nresources = {resources}\nmax_duration = \"{}h\"\napproval = \"{}\"\n{extra}",
            roles.join(", "),
            1 + rng.below(8),
            ["standard", "low", "strict"][rng.below(3)],
        )
        .expect("write");
    }
    s
}

fn identity(i: usize, rng: &mut Rng) -> HrRecord {
    let id = format!("E{i}");
    let username = format!("u{i}");
    HrRecord {
        employee_id: EmployeeId::parse(&id).expect("id"),
        username: Username::parse(&username).expect("username"),
        email: format!("{username}@example.com"),
        display_name: username,
        department: Some(format!("d{}", rng.below(DEPARTMENTS))),
        job_function: Some(format!("j{}", rng.below(JOBS))),
        manager: None,
        location: Some(format!("L{}", rng.below(10))),
        status: if rng.below(50) == 0 {
            EmploymentStatus::Leave
        } else {
            EmploymentStatus::Active
        },
        kind: IdentityKind::Employee,
        start_date: Some(date!(2020 - 01 - 01)),
        end_date: None,
        groups: BTreeSet::from([format!(
            "Team {}",
            RULE_GROUPS + MEMBER_GROUPS + rng.below(EXTERNAL_GROUPS + 30)
        )]),
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn micros(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1000.0)
}

fn report(what: &str, timings: &mut [u64]) {
    timings.sort_unstable();
    if let Some(max) = timings.last() {
        println!(
            "{what}: n={}  p50 {}  p99 {}  max {}",
            timings.len(),
            micros(percentile(timings, 0.50)),
            micros(percentile(timings, 0.99)),
            micros(*max),
        );
    }
}

fn main() {
    let mut rng = Rng(0x5EED);
    let files = [
        PolicySource {
            path: "resources.toml".into(),
            text: resources_file(),
        },
        PolicySource {
            path: "groups.toml".into(),
            text: groups_file(&mut rng),
        },
        PolicySource {
            path: "rules.toml".into(),
            text: rules_file(&mut rng),
        },
    ];
    let bytes: usize = files.iter().map(|f| f.text.len()).sum();
    let started = Instant::now();
    let policy = match compile(&files) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors.iter().take(20) {
                println!("{e}");
            }
            panic!(
                "the synthetic policy does not compile ({} errors)",
                errors.len()
            );
        }
    };
    println!(
        "compiled {policy:?} from {} KiB in {:?}",
        bytes / 1024,
        started.elapsed()
    );

    let identities: Vec<HrRecord> = (0..IDENTITIES).map(|i| identity(i, &mut rng)).collect();
    let started = Instant::now();
    let mut members: HashMap<String, Vec<usize>> = HashMap::new();
    let mut memberships = 0usize;
    for (i, who) in identities.iter().enumerate() {
        for g in policy.groups_of(who) {
            memberships += 1;
            members.entry(g).or_default().push(i);
        }
    }
    println!(
        "groups_of for {IDENTITIES} identities: {:?} in all, {:.1} groups each on average",
        started.elapsed(),
        memberships as f64 / IDENTITIES as f64
    );

    // Half the queries are aimed at what some rule grants (so they reach rule evaluation,
    // conditions included); half are uniformly random.
    let rules: Vec<_> = policy.rules().collect();
    let base = datetime!(2026-03-02 00:00 UTC);
    let mut queries = Vec::with_capacity(QUERIES);
    for n in 0..QUERIES {
        let (who, resource, role) = if n % 2 == 0 {
            let rule = rules[rng.below(rules.len())];
            let resource = match rule.resources.names.iter().next() {
                Some(name) => name.clone(),
                None => loop {
                    let r = format!("r{}", rng.below(RESOURCES));
                    if policy
                        .resource(&r)
                        .is_some_and(|r| rule.resources.matches(r))
                        || rng.below(20) == 0
                    {
                        break r;
                    }
                },
            };
            let role = rule.roles.iter().next().cloned().unwrap_or_default();
            let who = match &rule.who {
                Principal::Group(g) => members.get(g).map(|m| *rng.pick(m)),
                Principal::Identity(id) => id.as_str()[1..].parse().ok(),
                Principal::Everyone => None,
            };
            (who.unwrap_or_else(|| rng.below(IDENTITIES)), resource, role)
        } else {
            let r = rng.below(RESOURCES);
            (
                rng.below(IDENTITIES),
                format!("r{r}"),
                rng.pick(roles_of(resource_kind(r))).to_string(),
            )
        };
        let context = RequestContext {
            now: base + Duration::minutes(rng.below(7 * 24 * 60) as i64),
            mfa_age_secs: (rng.below(2) == 0).then(|| rng.below(3600) as i64),
            ticket: (rng.below(2) == 0).then(|| "CHG-1".to_owned()),
            source_ip: None,
            risk: (rng.below(2) == 0).then(|| rng.below(100) as i64),
        };
        let duration = [None, Some(Duration::hours(1)), Some(Duration::hours(6))][rng.below(3)];
        queries.push((who, resource, role, duration, context));
    }

    let mut timings = Vec::with_capacity(QUERIES);
    let mut by_outcome: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for (who, resource, role, duration, context) in &queries {
        let q = AccessQuery {
            identity: &identities[*who],
            resource,
            role,
            duration: *duration,
            context,
        };
        let started = Instant::now();
        let decision = black_box(policy.check(black_box(&q)));
        let ns = started.elapsed().as_nanos() as u64;
        timings.push(ns);
        by_outcome[usize::from(matches!(decision, Decision::Eligible(_)))].push(ns);
    }
    report(&format!("check x {QUERIES}"), &mut timings);
    report("  of which eligible", &mut by_outcome[1]);
    report("  of which not eligible", &mut by_outcome[0]);
    // What `policy plan` computes per identity.
    let started = Instant::now();
    let sample = 1_000;
    let listed: usize = identities
        .iter()
        .take(sample)
        .map(|who| {
            policy
                .eligible_entitlements(who, date!(2026 - 03 - 02))
                .len()
        })
        .sum();
    println!(
        "eligible_entitlements for {sample} identities: {:?} each on average, {:.0} entitlements each",
        started.elapsed() / sample as u32,
        listed as f64 / sample as f64
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.trim());
    }
}
