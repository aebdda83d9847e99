//! `schema`: the JSON Schema of the runbook's files on stdout (the document
//! `schema/runbook.schema.json` holds), for editors to validate runbook files as they are typed.
//! `--output json` gives it as the `schema` of the one JSON line every command ends with.

use crate::error::Error;
use crate::exit_codes;
use crate::reporter::terminal::Terminal;
use crate::runbook::schema;
use crate::settings::{OutputFormat, Settings};

pub fn run(settings: &Settings, term: &Terminal) -> Result<i32, Error> {
    match settings.output {
        OutputFormat::Json => term.out(&super::json_line(
            &serde_json::json!({ "schema": schema::document() }),
        )),
        OutputFormat::Human | OutputFormat::Junit => term.out(schema::pretty().trim_end()),
    }
    Ok(exit_codes::SUCCESS)
}
