//! The JSON Schema of an `aws` step: `Spec`'s fields, the services of `SERVICES` (any case,
//! aliases too, as `find_service` reads them), each service's operations (the API's name or
//! the CLI's) and each operation's input fields (its `operations!` entry's).

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Value, json};

use super::{SERVICES, Service, Spec, canonical_operation};

/// The definition's name in the schema.
const NAME: &str = "AwsStep";

/// Adds the `aws` step's definition (once) and returns a reference to it.
pub(super) fn register(generator: &mut SchemaGenerator) -> Schema {
    let path = generator
        .settings()
        .definitions_path
        .trim_start_matches('/')
        .to_owned();
    if !generator.definitions().contains_key(NAME) {
        let schema = build(generator);
        generator.definitions_mut().insert(NAME.into(), schema);
    }
    Schema::new_ref(format!("#/{path}/{NAME}"))
}

fn build(generator: &mut SchemaGenerator) -> Value {
    let mut schema = Spec::json_schema(generator).to_value();
    let services: Vec<&Service> = SERVICES.iter().collect();
    schema["properties"]["service"]["pattern"] = json!(any_case(&services));
    let mut rules = Vec::new();
    for service in SERVICES {
        let this_service =
            json!({ "properties": { "service": { "pattern": any_case(&[service]) } } });
        let names: Vec<String> = service.ops.iter().flat_map(|o| spellings(o.name)).collect();
        rules.push(json!({
            "if": this_service,
            "then": { "properties": { "operation": { "enum": names } } },
        }));
        for op in service.ops {
            let fields: serde_json::Map<String, Value> = op
                .input
                .iter()
                .map(|f| ((*f).to_owned(), json!({})))
                .collect();
            rules.push(json!({
                "if": {
                    "properties": {
                        "service": { "pattern": any_case(&[service]) },
                        "operation": { "enum": spellings(op.name) },
                    },
                },
                "then": {
                    "properties": {
                        "input": { "properties": fields, "additionalProperties": false },
                    },
                },
            }));
        }
    }
    schema["allOf"] = Value::Array(rules);
    schema
}

/// A pattern matching the services' names and aliases in any case (`find_service` lowercases).
fn any_case(services: &[&Service]) -> String {
    let names: Vec<String> = services
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
        .map(|n| {
            n.chars()
                .map(|c| match c {
                    c if c.is_ascii_alphabetic() => {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    }
                    c => c.to_string(),
                })
                .collect()
        })
        .collect();
    format!("^({})$", names.join("|"))
}

/// The API's name and the CLI's (`DescribeClusters`, `describe-clusters`): the CLI's only
/// where `canonical_operation` reads it back as the API's.
fn spellings(op: &str) -> Vec<String> {
    let mut cli = String::new();
    let mut previous: Option<char> = None;
    for c in op.chars() {
        let starts_word = previous.is_some_and(|p| {
            (c.is_ascii_uppercase() && !p.is_ascii_uppercase())
                || (c.is_ascii_digit() && !p.is_ascii_digit() && !p.is_ascii_uppercase())
        });
        if starts_word {
            cli.push('-');
        }
        cli.push(c.to_ascii_lowercase());
        previous = Some(c);
    }
    if canonical_operation(&cli) == op {
        vec![op.to_owned(), cli]
    } else {
        vec![op.to_owned()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_several_words_has_its_cli_spelling_too() {
        for service in SERVICES {
            for op in service.ops {
                let names = spellings(op.name);
                // `canonical_operation` reads only a name with a `-` as the CLI's: `scan`
                // stays `scan`, which no service has.
                let words = op.name.chars().filter(char::is_ascii_uppercase).count();
                assert_eq!(
                    names.len(),
                    if words > 1 { 2 } else { 1 },
                    "{}: {names:?}",
                    op.name
                );
                assert!(
                    names.iter().all(|n| canonical_operation(n) == op.name),
                    "{names:?}"
                );
            }
        }
        assert_eq!(spellings("ListObjectsV2")[1], "list-objects-v2");
    }

    #[test]
    fn services_match_in_any_case_and_by_alias() {
        let pattern = any_case(&SERVICES.iter().collect::<Vec<_>>());
        assert!(pattern.contains("[eE][lL][bB][vV]2"), "{pattern}");
    }
}
