//! HR files: CSV with a header row, or a JSON array of objects with the same keys. Every
//! problem in the file is collected with its line (CSV) or record number (JSON) and field;
//! a file with any problem is refused whole.
//!
//! Columns (CSV header / JSON keys): `employee_id`, `username`, `email`, `name` required;
//! `department`, `job_function`, `manager` (an employee id), `location`, `status`
//! (`active` | `leave` | `terminated`, default active), `type` (`employee` | `contractor`
//! | `vendor` | `service`, default employee), `start_date`, `end_date` (`YYYY-MM-DD`)
//! optional. Unknown columns are refused by name; empty cells are absent values.

use std::collections::{BTreeMap, BTreeSet};

use time::Date;
use warden_core::Username;
use warden_core::hr::{LocatedRecord, SyncProblem};
use warden_core::identity::{EmployeeId, EmploymentStatus, HrRecord, IdentityKind};

/// The format of an HR file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HrFormat {
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

impl HrFormat {
    /// The format of a file by its name: `.json` is JSON, anything else CSV.
    pub fn from_name(name: &str) -> Self {
        if name.to_ascii_lowercase().ends_with(".json") {
            HrFormat::Json
        } else {
            HrFormat::Csv
        }
    }
}

const REQUIRED: [&str; 4] = ["employee_id", "username", "email", "name"];
const OPTIONAL: [&str; 8] = [
    "department",
    "job_function",
    "manager",
    "location",
    "status",
    "type",
    "start_date",
    "end_date",
];

/// Parses a file into records, or every problem found.
pub fn parse(format: HrFormat, text: &str) -> Result<Vec<LocatedRecord>, Vec<SyncProblem>> {
    let (records, problems) = parse_all(format, text);
    if problems.is_empty() {
        Ok(records)
    } else {
        Err(problems)
    }
}

/// Parses what can be parsed and collects every problem: the records that parsed, so the
/// caller can check the population too and report all problems of a file at once.
pub fn parse_all(format: HrFormat, text: &str) -> (Vec<LocatedRecord>, Vec<SyncProblem>) {
    let rows = match format {
        HrFormat::Csv => csv_rows(text),
        HrFormat::Json => json_rows(text),
    };
    let (rows, mut problems) = match rows {
        Ok(rows) => (rows, Vec::new()),
        Err(problems) => return (Vec::new(), problems),
    };
    let mut records = Vec::new();
    for (at, fields) in rows {
        match record(&at, &fields) {
            Ok(record) => records.push(LocatedRecord { at, record }),
            Err(mut p) => problems.append(&mut p),
        }
    }
    (records, problems)
}

type Row = (String, BTreeMap<String, String>);

fn problem(at: &str, field: Option<&str>, message: impl Into<String>) -> SyncProblem {
    SyncProblem {
        at: at.to_owned(),
        field: field.map(str::to_owned),
        message: message.into(),
    }
}

fn check_columns(at: &str, columns: &BTreeSet<String>, problems: &mut Vec<SyncProblem>) {
    for column in columns {
        if !REQUIRED.contains(&column.as_str()) && !OPTIONAL.contains(&column.as_str()) {
            problems.push(problem(at, Some(column), "unknown column"));
        }
    }
    for required in REQUIRED {
        if !columns.contains(required) {
            problems.push(problem(at, Some(required), "required column is missing"));
        }
    }
}

fn csv_rows(text: &str) -> Result<Vec<Row>, Vec<SyncProblem>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|c| c.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect(),
        Err(e) => {
            return Err(vec![problem(
                "line 1",
                None,
                format!("cannot read the header row: {e}"),
            )]);
        }
    };
    let mut problems = Vec::new();
    let columns: BTreeSet<String> = headers.iter().cloned().collect();
    if columns.len() != headers.len() {
        problems.push(problem(
            "line 1",
            None,
            "a column appears twice in the header",
        ));
    }
    check_columns("line 1", &columns, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut rows = Vec::new();
    for result in reader.records() {
        match result {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                let fields = headers
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.to_owned()))
                    .collect();
                rows.push((format!("line {line}"), fields));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(problem(&format!("line {line}"), None, e.to_string()));
            }
        }
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push(problem(
            "line 2",
            None,
            "the file has no records; a full sync needs the whole population",
        ));
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

fn json_rows(text: &str) -> Result<Vec<Row>, Vec<SyncProblem>> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        vec![problem(
            &format!("line {}", e.line()),
            None,
            format!("not valid JSON: {e}"),
        )]
    })?;
    let serde_json::Value::Array(items) = value else {
        return Err(vec![problem(
            "line 1",
            None,
            "the file must be a JSON array of identity objects",
        )]);
    };
    if items.is_empty() {
        return Err(vec![problem(
            "record 1",
            None,
            "the file has no records; a full sync needs the whole population",
        )]);
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("record {}", i + 1);
        let serde_json::Value::Object(map) = item else {
            problems.push(problem(&at, None, "must be an object"));
            continue;
        };
        let columns: BTreeSet<String> = map.keys().cloned().collect();
        let mut found = Vec::new();
        check_columns(&at, &columns, &mut found);
        // Missing required keys are reported per field below, with the others.
        found.retain(|p| p.message == "unknown column");
        let mut fields = BTreeMap::new();
        for (key, value) in map {
            match value {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) if s.trim().is_empty() => {}
                serde_json::Value::String(s) => {
                    fields.insert(key, s.trim().to_owned());
                }
                other => found.push(problem(
                    &at,
                    Some(&key),
                    format!("must be a string, not {other}"),
                )),
            }
        }
        if found.is_empty() {
            rows.push((at, fields));
        } else {
            problems.append(&mut found);
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// The HR record of one row, or every problem found in it.
fn record(at: &str, fields: &BTreeMap<String, String>) -> Result<HrRecord, Vec<SyncProblem>> {
    let mut f = Fields {
        at,
        fields,
        problems: Vec::new(),
    };
    let employee_id = f.required("employee_id");
    let username = f.required("username");
    let email = f.required("email");
    let name = f.required("name");

    let employee_id = employee_id.and_then(|v| f.employee_id("employee_id", &v));
    let username = username.and_then(|v| f.username(&v));
    let email = email.filter(|v| f.check_email(v));
    let name = name.filter(|v| f.check_name(v));
    let manager = f.get("manager").and_then(|v| f.employee_id("manager", &v));
    let status = f.status();
    let kind = f.kind();
    let start_date = f.date("start_date");
    let end_date = f.date("end_date");
    if let (Some(start), Some(end)) = (start_date, end_date)
        && end < start
    {
        f.problems
            .push(problem(at, Some("end_date"), "is before start_date"));
    }
    let [department, job_function, location] =
        ["department", "job_function", "location"].map(|key| f.text(key));
    match (employee_id, username, email, name, status, kind) {
        (
            Some(employee_id),
            Some(username),
            Some(email),
            Some(display_name),
            Some(status),
            Some(kind),
        ) if f.problems.is_empty() => Ok(HrRecord {
            employee_id,
            username,
            email,
            display_name,
            department,
            job_function,
            manager,
            location,
            status,
            kind,
            start_date,
            end_date,
            groups: BTreeSet::new(),
        }),
        _ => Err(f.problems),
    }
}

/// The fields of one row (`at`) as they are read, with the problems found so far, in
/// the order they are found.
struct Fields<'a> {
    /// Where the row is: `line 4` or `record 3`.
    at: &'a str,
    /// Its non-empty fields by column.
    fields: &'a BTreeMap<String, String>,
    /// What is wrong with it.
    problems: Vec<SyncProblem>,
}

impl Fields<'_> {
    /// The field `key`, if given.
    fn get(&self, key: &str) -> Option<String> {
        self.fields.get(key).cloned()
    }

    /// The field `key`; a problem when it is missing.
    fn required(&mut self, key: &str) -> Option<String> {
        let value = self.get(key);
        if value.is_none() {
            self.problems
                .push(problem(self.at, Some(key), "is required"));
        }
        value
    }

    /// `v` as the employee id in field `key`.
    fn employee_id(&mut self, key: &str, v: &str) -> Option<EmployeeId> {
        EmployeeId::parse(v)
            .map_err(|e| {
                self.problems
                    .push(problem(self.at, Some(key), e.to_string()))
            })
            .ok()
    }

    /// `v` as a user name, in lower case.
    fn username(&mut self, v: &str) -> Option<Username> {
        Username::parse(&v.to_ascii_lowercase())
            .map_err(|e| {
                self.problems
                    .push(problem(self.at, Some("username"), e.to_string()))
            })
            .ok()
    }

    /// Whether `v` is an e-mail address; a problem when not.
    fn check_email(&mut self, v: &str) -> bool {
        let ok = valid_email(v);
        if !ok {
            self.problems.push(problem(
                self.at,
                Some("email"),
                format!("{v:?} is not an e-mail address"),
            ));
        }
        ok
    }

    /// Whether `v` is a name (at most 200 characters, none a control character); a
    /// problem when not.
    fn check_name(&mut self, v: &str) -> bool {
        let ok = v.chars().count() <= 200 && !v.chars().any(char::is_control);
        if !ok {
            self.problems.push(problem(
                self.at,
                Some("name"),
                "must be at most 200 characters without control characters",
            ));
        }
        ok
    }

    /// The employment status (active when not given).
    fn status(&mut self) -> Option<EmploymentStatus> {
        match self.get("status") {
            None => Some(EmploymentStatus::Active),
            Some(v) => EmploymentStatus::parse(&v.to_ascii_lowercase()).or_else(|| {
                self.problems.push(problem(
                    self.at,
                    Some("status"),
                    format!("{v:?} is not one of active, leave, terminated"),
                ));
                None
            }),
        }
    }

    /// The kind of identity, from the `type` column (employee when not given).
    fn kind(&mut self) -> Option<IdentityKind> {
        match self.get("type") {
            None => Some(IdentityKind::Employee),
            Some(v) => IdentityKind::parse(&v.to_ascii_lowercase()).or_else(|| {
                self.problems.push(problem(
                    self.at,
                    Some("type"),
                    format!("{v:?} is not one of employee, contractor, vendor, service"),
                ));
                None
            }),
        }
    }

    /// The date in field `key` (`2026-01-31`), if given.
    fn date(&mut self, key: &str) -> Option<Date> {
        let v = self.get(key)?;
        Date::parse(
            &v,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| {
            self.problems.push(problem(
                self.at,
                Some(key),
                format!("{v:?} is not a date like 2026-01-31"),
            ))
        })
        .ok()
    }

    /// The free text in field `key`, if given: at most 200 characters, none a control
    /// character (a problem otherwise).
    fn text(&mut self, key: &str) -> Option<String> {
        let value = self.get(key)?;
        if value.chars().count() <= 200 && !value.chars().any(char::is_control) {
            Some(value)
        } else {
            self.problems.push(problem(
                self.at,
                Some(key),
                "must be at most 200 characters without control characters",
            ));
            None
        }
    }
}

/// A plausible e-mail address: one `@`, something on both sides, a dot in the domain, no
/// spaces or control characters.
pub fn valid_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && v.len() <= 254
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "employee_id,username,email,name,department,job_function,manager,status,type,start_date,end_date\n";

    fn problems(format: HrFormat, text: &str) -> Vec<String> {
        parse(format, text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn csv_parses_with_defaults_and_empty_cells() {
        let text = format!(
            "{HEADER}E1,alice,alice@example.com,Alice A,Platform,SRE,,,,2024-01-02,\nE2,Bob,bob@example.com,Bob,,,E1,leave,contractor,,\n"
        );
        let rows = parse(HrFormat::Csv, &text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].at, "line 2");
        assert_eq!(rows[0].record.status, EmploymentStatus::Active);
        assert_eq!(rows[0].record.kind, IdentityKind::Employee);
        assert_eq!(rows[0].record.start_date.unwrap().to_string(), "2024-01-02");
        assert_eq!(
            rows[1].record.username.as_str(),
            "bob",
            "user names are folded to lower case"
        );
        assert_eq!(rows[1].record.manager.as_ref().unwrap().as_str(), "E1");
        assert_eq!(rows[1].record.kind, IdentityKind::Contractor);
        assert_eq!(rows[1].record.department, None);
    }

    #[test]
    fn every_bad_field_is_reported_with_its_line() {
        let text = format!(
            "{HEADER}E1,alice,not-an-email,Alice,,,,retired,robot,2024-13-01,\n,bob,bob@example.com,,,,E 2,,,2024-02-01,2024-01-01\n"
        );
        assert_eq!(
            problems(HrFormat::Csv, &text),
            [
                "line 2: email: \"not-an-email\" is not an e-mail address",
                "line 2: status: \"retired\" is not one of active, leave, terminated",
                "line 2: type: \"robot\" is not one of employee, contractor, vendor, service",
                "line 2: start_date: \"2024-13-01\" is not a date like 2026-01-31",
                "line 3: employee_id: is required",
                "line 3: name: is required",
                "line 3: manager: character ' ' is not allowed; use a-z, 0-9, '.', '_', '-' or '@', starting with a letter or digit",
                "line 3: end_date: is before start_date",
            ]
        );
    }

    #[test]
    fn header_problems_stop_before_the_rows() {
        assert_eq!(
            problems(
                HrFormat::Csv,
                "employee_id,username,mail,name,salary\nE1,a,a@b.c,A,1\n"
            ),
            [
                "line 1: mail: unknown column",
                "line 1: salary: unknown column",
                "line 1: email: required column is missing"
            ]
        );
        assert_eq!(
            problems(HrFormat::Csv, HEADER),
            ["line 2: the file has no records; a full sync needs the whole population"]
        );
    }

    #[test]
    fn ragged_csv_rows_are_reported() {
        let found = problems(
            HrFormat::Csv,
            "employee_id,username,email,name\nE1,a,a@b.co\n",
        );
        assert!(found[0].starts_with("line 2:"), "{found:?}");
    }

    #[test]
    fn json_parses_and_reports_by_record() {
        let ok = r#"[{"employee_id":"E1","username":"alice","email":"a@example.com","name":"Alice","manager":null}]"#;
        assert_eq!(
            parse(HrFormat::Json, ok).unwrap()[0]
                .record
                .username
                .as_str(),
            "alice"
        );
        let bad = r#"[{"employee_id":"E1","username":"alice","email":"a@example.com","name":"Alice","shoe_size":"9"},
                      {"employee_id":1,"username":"bob","email":"b@example.com","name":"Bob"},
                      "nobody"]"#;
        assert_eq!(
            problems(HrFormat::Json, bad),
            [
                "record 1: shoe_size: unknown column",
                "record 2: employee_id: must be a string, not 1",
                "record 3: must be an object",
            ]
        );
        assert!(problems(HrFormat::Json, "{\"a\":")[0].starts_with("line 1: not valid JSON"));
        assert_eq!(
            problems(HrFormat::Json, "{}"),
            ["line 1: the file must be a JSON array of identity objects"]
        );
    }

    #[test]
    fn emails() {
        for ok in ["a@example.com", "first.last+tag@sub.example.org"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "@example.com",
            "a@",
            "a@example",
            "a b@example.com",
            "a@@example.com",
            "a@.com",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
