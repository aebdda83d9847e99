//! The shapes of the runbook's YAML documents as serde checks them: the top file, a unit
//! file, a step's envelope (the fields every step may have besides its kind) and `retry`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::Value;

use crate::runbook::model::Reverts;

/// The fields every step may have besides its kind: those of [`EnvelopeDoc`], in its order.
pub(super) fn envelope() -> &'static [&'static str] {
    field_names::<EnvelopeDoc>()
}

/// The field names serde's derive gives `T`, in declaration order. The derive hands them to
/// `deserialize_struct`; this deserialiser records them there and stops, so a list of
/// fields cannot drift from the struct that parses them.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RootDoc {
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
    pub(super) notify: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PhaseRef {
    pub(super) phase: u8,
    pub(super) file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LevelRef {
    pub(super) level: u8,
    pub(super) file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UnitDoc {
    pub(super) title: String,
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for readers of the YAML")]
    pub(super) description: String,
    pub(super) reverts: Option<u8>,
    pub(super) steps: Option<Vec<Value>>,
    pub(super) groups: Option<Vec<GroupDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupDoc {
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for readers of the YAML")]
    pub(super) description: String,
    #[allow(
        dead_code,
        reason = "shape check only: the title is read from the node"
    )]
    pub(super) title: String,
    #[allow(dead_code, reason = "shape check only: steps are read from the node")]
    pub(super) steps: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnvelopeDoc {
    pub(super) id: String,
    pub(super) title: Option<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for readers of the YAML")]
    pub(super) description: String,
    pub(super) when: Option<String>,
    pub(super) for_each: Option<Value>,
    pub(super) retry: Option<RetryDoc>,
    pub(super) timeout: Option<String>,
    #[serde(default)]
    pub(super) capture: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) expect: Vec<Value>,
    pub(super) mutates: Option<bool>,
    /// Running it again has the effect of running it once (read from the kind when absent).
    pub(super) idempotent: Option<bool>,
    #[serde(default)]
    pub(super) approval: bool,
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
    pub(super) verify: Option<Value>,
    /// A monitoring row's interval (`5m`).
    pub(super) every: Option<String>,
    /// The rollback a monitoring row's sustained breach calls for.
    pub(super) breach: Option<BreachDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BreachDoc {
    pub(super) rollback: u8,
    pub(super) after: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetryDoc {
    /// A number, or a template over vars (`"{{ poll_attempts }}"`).
    pub(super) attempts: Value,
    pub(super) interval: Option<String>,
    pub(super) backoff: Option<f32>,
    pub(super) max_interval: Option<String>,
    #[serde(default)]
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
