//! The shapes of the runbook's YAML documents as serde checks them: the top file, a unit
//! file, a step's envelope (the fields every step may have besides its kind) and `retry`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::Value;

use crate::runbook::model::Reverts;

/// The fields every step may have besides its kind: those of [`EnvelopeDoc`], in its order.
pub(in crate::runbook) fn envelope() -> &'static [&'static str] {
    field_names::<EnvelopeDoc>()
}

/// The field names serde's derive gives `T`, in declaration order. The derive hands them to
/// `deserialize_struct`; this deserialiser records them there and stops, so a list of
/// fields cannot drift from the struct that parses them.
pub(in crate::runbook) fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Names<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Names<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only a struct's field names are read"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("field names read"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut names: &'static [&'static str] = &[];
    // Always an error: the deserialiser stops once it has the names.
    let _ = T::deserialize(Names(&mut names));
    names
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Runbook")]
pub(in crate::runbook) struct RootDoc {
    #[schemars(extend("const" = super::FORMAT))]
    pub(super) format: u32,
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    /// The AWS account the credentials must belong to (a template over vars).
    pub(super) account: Option<String>,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "shape check only: vars are read from the node to keep their order"
    )]
    pub(super) vars: serde_json::Map<String, Value>,
    pub(super) preflight: String,
    pub(super) phases: Vec<PhaseRef>,
    pub(super) verify: String,
    pub(super) rollback: Vec<LevelRef>,
    /// The monitoring rows' file (`monitor`), optional.
    pub(super) monitor: Option<String>,
    /// Read from the node by `notify::load_notify`, which locates its problems.
    #[allow(
        dead_code,
        reason = "shape check only: the section is read from the node"
    )]
    #[schemars(with = "Option<super::notify::NotifyDoc>")]
    pub(super) notify: Option<Value>,
    /// The troubleshooting guide's symptoms, each a read-only unit (`diagnose`).
    #[serde(default)]
    pub(super) diagnose: Vec<SymptomRef>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PhaseRef")]
pub(in crate::runbook) struct PhaseRef {
    #[schemars(range(min = 1, max = super::root::PHASES.len()))]
    pub(super) phase: u8,
    pub(super) file: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::runbook) struct SymptomRef {
    pub(super) symptom: String,
    pub(super) file: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "LevelRef")]
pub(in crate::runbook) struct LevelRef {
    #[schemars(range(min = 1, max = super::root::LEVELS.len()))]
    pub(super) level: u8,
    pub(super) file: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Unit")]
pub(in crate::runbook) struct UnitDoc {
    pub(super) title: String,
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for readers of the YAML")]
    pub(super) description: String,
    pub(super) reverts: Option<u8>,
    #[schemars(with = "Option<Vec<crate::runbook::schema::StepEntry>>")]
    pub(super) steps: Option<Vec<Value>>,
    pub(super) groups: Option<Vec<GroupDoc>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Group")]
pub(in crate::runbook) struct GroupDoc {
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for readers of the YAML")]
    pub(super) description: String,
    #[allow(
        dead_code,
        reason = "shape check only: the title is read from the node"
    )]
    pub(super) title: String,
    #[allow(dead_code, reason = "shape check only: steps are read from the node")]
    #[schemars(with = "Vec<crate::runbook::schema::StepEntry>")]
    pub(super) steps: Vec<Value>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::runbook) struct EnvelopeDoc {
    /// ASCII letters, digits, `-` and `_` (`names::valid_id`).
    #[schemars(extend("pattern" = "^[A-Za-z0-9_-]+$"))]
    pub(super) id: String,
    pub(super) title: Option<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for readers of the YAML")]
    pub(super) description: String,
    pub(super) when: Option<String>,
    #[schemars(with = "Option<crate::runbook::schema::ForEachDoc>")]
    pub(super) for_each: Option<Value>,
    pub(super) retry: Option<RetryDoc>,
    #[schemars(with = "Option<crate::runbook::schema::DurationText>")]
    pub(super) timeout: Option<String>,
    #[serde(default)]
    pub(super) capture: BTreeMap<String, String>,
    #[serde(default)]
    #[schemars(with = "Vec<crate::runbook::schema::ExpectationDoc>")]
    pub(super) expect: Vec<Value>,
    pub(super) mutates: Option<bool>,
    /// Running it again has the effect of running it once (read from the kind when absent).
    pub(super) idempotent: Option<bool>,
    #[serde(default)]
    pub(super) approval: ApprovalDoc,
    #[serde(default)]
    pub(super) optional: bool,
    #[serde(default)]
    pub(super) secret: bool,
    pub(super) reverts: Option<Reverts>,
    /// Advice shown under the step when it fails (what to check, how to recover).
    pub(super) hint: Option<String>,
    /// A JMESPath whose value is shown under the step's line (a plan before its approval).
    pub(super) show: Option<String>,
    /// A read-only probe for a step in doubt after a crash (read from the node).
    #[allow(
        dead_code,
        reason = "shape check only: the probe is loaded as a step of its own"
    )]
    #[schemars(with = "Option<crate::runbook::schema::Probe>")]
    pub(super) verify: Option<Value>,
    /// A monitoring row's interval (`5m`).
    pub(super) every: Option<String>,
    /// The rollback a monitoring row's sustained breach calls for.
    pub(super) breach: Option<BreachDoc>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::runbook) struct BreachDoc {
    pub(super) rollback: u8,
    pub(super) after: String,
}

/// `approval:` `true` (the operator approves), `false`, or `second_person` (another identity
/// approves, with `outpost-migrate approve`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum ApprovalDoc {
    #[default]
    None,
    Operator,
    SecondPerson,
}

impl<'de> Deserialize<'de> for ApprovalDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Approval;
        impl Visitor<'_> for Approval {
            type Value = ApprovalDoc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`true`, `false` or `second_person`")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ApprovalDoc, E> {
                Ok(if v {
                    ApprovalDoc::Operator
                } else {
                    ApprovalDoc::None
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ApprovalDoc, E> {
                match v {
                    "second_person" => Ok(ApprovalDoc::SecondPerson),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Approval)
    }
}

impl JsonSchema for ApprovalDoc {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Approval".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`true`: the operator approves; `second_person`: another AWS identity approves (`outpost-migrate approve`)",
            "oneOf": [{ "type": "boolean" }, { "const": "second_person" }]
        })
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Retry")]
pub(in crate::runbook) struct RetryDoc {
    /// A number, or a template over vars (`"{{ poll_attempts }}"`).
    #[schemars(with = "crate::runbook::schema::Attempts")]
    pub(super) attempts: Value,
    #[schemars(with = "Option<crate::runbook::schema::DurationOrTemplate>")]
    pub(super) interval: Option<String>,
    pub(super) backoff: Option<f32>,
    #[schemars(with = "Option<crate::runbook::schema::DurationOrTemplate>")]
    pub(super) max_interval: Option<String>,
    #[serde(default)]
    #[schemars(with = "Vec<crate::runbook::schema::ExpectationDoc>")]
    pub(super) until: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether serde's `EnvelopeDoc` knows `field` (any other error means it does).
    fn accepted(field: &str) -> bool {
        let doc = serde_json::json!({ "id": "s", field: null });
        match serde_json::from_value::<EnvelopeDoc>(doc) {
            Ok(_) => true,
            Err(e) => !e.to_string().starts_with("unknown field"),
        }
    }

    #[test]
    fn the_envelope_is_every_field_its_document_accepts() {
        let fields = envelope();
        assert_eq!(fields.first(), Some(&"id"));
        for field in fields {
            assert!(
                accepted(field),
                "`{field}` is listed but EnvelopeDoc refuses it"
            );
        }
        assert!(!accepted("shell"), "a kind is not an envelope field");
        assert_eq!(
            field_names::<RetryDoc>(),
            ["attempts", "interval", "backoff", "max_interval", "until"]
        );
    }

    #[test]
    fn no_step_kind_is_named_like_an_envelope_field() {
        // A step's keys are sorted into envelope and kind by name: a kind named like a field
        // could never be used.
        for kind in crate::kinds::names() {
            assert!(
                !envelope().contains(&kind),
                "kind `{kind}` is an envelope field"
            );
        }
    }
}
