//! Rules between the fields of a request body that a derived schema cannot state, added
//! to the OpenAPI document: "at least one of these fields, given and not null". Without
//! them `{}` would fit `UpdateUser` and `Unseal`, and the server refuses it.

use utoipa::Modify;
use utoipa::openapi::schema::{AllOf, AnyOf, Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi, RefOr};

/// Adds the "at least one of" rules to the schemas they belong to.
pub struct AtLeastOne;

/// A field that satisfies the rule, and what its value must then be.
struct Alternative {
    field: &'static str,
    value: fn() -> Object,
}

/// The schema of the rule's alternatives, by schema name.
const RULES: [(&str, &[Alternative]); 2] = [
    (
        "UpdateUser",
        &[
            Alternative {
                field: "scopes",
                value: || Object::with_type(Type::Array),
            },
            Alternative {
                field: "disabled",
                value: || Object::with_type(Type::Boolean),
            },
        ],
    ),
    (
        "Unseal",
        &[
            Alternative {
                field: "share",
                value: || Object::with_type(Type::String),
            },
            Alternative {
                field: "reset",
                value: || {
                    ObjectBuilder::new()
                        .schema_type(Type::Boolean)
                        .enum_values(Some([true]))
                        .build()
                },
            },
        ],
    ),
];

impl Modify for AtLeastOne {
    fn modify(&self, openapi: &mut OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for (name, alternatives) in RULES {
            let Some(schema) = components.schemas.remove(name) else {
                continue;
            };
            let mut any_of = AnyOf::new();
            for alternative in alternatives {
                any_of.items.push(RefOr::T(Schema::Object(
                    ObjectBuilder::new()
                        .property(alternative.field, (alternative.value)())
                        .required(alternative.field)
                        .build(),
                )));
            }
            let mut all_of = AllOf::new();
            all_of.items = vec![schema, RefOr::T(Schema::AnyOf(any_of))];
            components
                .schemas
                .insert(name.to_owned(), RefOr::T(Schema::AllOf(all_of)));
        }
    }
}
