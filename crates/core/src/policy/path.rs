//! The path of a policy file as a label: relative, inside the policy directory, a `.toml`
//! file. The server checks it on every plan and apply; the command line checks it before
//! sending a directory, and in `policy validate` with no server at all.

/// Why a policy file's path is refused. The texts complete "the path …" and are shown as
/// they are, beside the path or its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty, or longer than 200 characters.
    #[error("must be 1 to 200 characters")]
    Length,
    /// Absolute, or written with `\` or `:` (a Windows path or a drive).
    #[error("must be a relative path with / between parts")]
    NotRelative,
    /// A control character anywhere in it.
    #[error("must not contain control characters")]
    ControlCharacter,
    /// An empty part (`a//b`), or a `.` or `..` part.
    #[error("must not contain empty, . or .. parts")]
    BadPart,
    /// Not a `.toml` file.
    #[error("must be a .toml file")]
    NotToml,
}

/// Checks a policy file's path: relative, inside the directory, a `.toml` file. The path
/// is only a label (nothing is written to disk), but a `..` in it would mislead readers
/// of errors and history, and must never reach a file system later.
pub fn check_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() || path.chars().count() > 200 {
        return Err(PathError::Length);
    }
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err(PathError::NotRelative);
    }
    if path.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(PathError::BadPart);
    }
    if !path.ends_with(".toml") {
        return Err(PathError::NotToml);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{PathError, check_path};

    #[test]
    fn policy_paths_stay_inside_the_directory() {
        for ok in ["access.toml", "teams/sre.toml", "a-b_c.toml"] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", PathError::Length),
            ("/etc/warden.toml", PathError::NotRelative),
            ("../x.toml", PathError::BadPart),
            ("teams/../../x.toml", PathError::BadPart),
            ("a//b.toml", PathError::BadPart),
            ("./a.toml", PathError::BadPart),
            ("a\\b.toml", PathError::NotRelative),
            ("c:x.toml", PathError::NotRelative),
            ("a\n.toml", PathError::ControlCharacter),
            ("notes.txt", PathError::NotToml),
        ] {
            assert_eq!(check_path(bad), Err(why), "{bad:?}");
        }
        let long = format!("{}.toml", "a".repeat(196));
        assert_eq!(check_path(&long), Err(PathError::Length));
        assert_eq!(check_path(&long[1..]), Ok(()));
    }

    #[test]
    fn refusals_read_as_before() {
        assert_eq!(
            check_path("../x.toml").unwrap_err().to_string(),
            "must not contain empty, . or .. parts"
        );
        assert_eq!(
            check_path("notes.txt").unwrap_err().to_string(),
            "must be a .toml file"
        );
    }
}
