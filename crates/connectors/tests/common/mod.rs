//! What the connector tests share: a stand-in for Warden's vault and the check that no
//! error shows a password.

use std::collections::HashMap;
use std::sync::Mutex;

use secrecy::SecretString;
use warden_connectors::PasswordSource;
use warden_core::connector::{BoxFuture, ConnectorError};

/// A stand-in for Warden's vault: passwords by vaulted account name.
#[derive(Debug, Default)]
pub struct Vault(Mutex<HashMap<String, SecretString>>);

impl Vault {
    /// Keeps `password` for `account`.
    pub fn put(&self, account: &str, password: &str) {
        self.0
            .lock()
            .unwrap()
            .insert(account.to_owned(), SecretString::from(password.to_owned()));
    }
}

impl PasswordSource for Vault {
    fn password<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<SecretString, ConnectorError>> {
        let found = self.0.lock().unwrap().get(account).cloned();
        Box::pin(async move {
            found.ok_or_else(|| ConnectorError::Refused(format!("no vaulted account {account}")))
        })
    }
}

/// `s` as a secret.
pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Asserts that no error shows any of `passwords`, in its message or its `Debug`.
pub fn hides<E: std::borrow::Borrow<ConnectorError>>(errors: &[E], passwords: &[&str]) {
    for e in errors {
        let e = e.borrow();
        let shown = format!("{e} {e:?}");
        for p in passwords {
            assert!(!shown.contains(p), "{shown} shows a password");
        }
    }
}
