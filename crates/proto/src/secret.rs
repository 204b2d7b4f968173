//! A secret on the wire: a password sent to the server, or a token shown once.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that is a secret. Its `Debug` prints a placeholder, and it is zeroized when
/// dropped; serializing it is the one deliberate way out.
#[derive(Clone)]
pub struct WireSecret(pub SecretString);

impl WireSecret {
    /// Wraps a secret.
    pub fn new(secret: SecretString) -> Self {
        Self(secret)
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for WireSecret {
    fn from(s: &str) -> Self {
        Self(SecretString::from(s))
    }
}

impl std::fmt::Debug for WireSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for WireSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose_secret())
    }
}

impl<'de> Deserialize<'de> for WireSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        SecretString::deserialize(deserializer).map(Self)
    }
}

impl utoipa::PartialSchema for WireSecret {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Password,
            )))
            .into()
    }
}

impl utoipa::ToSchema for WireSecret {}
