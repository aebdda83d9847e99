//! Where a rendered value lands decides how it is written: shell-quoted in a command, a path
//! segment in a URL, literal in a pattern, on one line in a line of text. `template` splits a
//! rendering into the template's text and its values; this writes each value.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// How the values interpolated into a string are written: decided by where the string lands
/// (a kind says so for each of its fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Data handed over as it is (an AWS input, a JSON body, a path): a string that is one
    /// `{{ expression }}` keeps the value's type.
    Data,
    /// A command run by `sh -c`: each value is one shell word, quoted.
    Shell,
    /// An HTTP URL: a value at the very start is the base URL (an absolute http(s) URL
    /// without query or fragment), one in the host part a host name, any other a path segment
    /// or query value, percent-encoded.
    Url,
    /// An HTTP header value: no line breaks.
    Header,
    /// A regular expression: values match literally.
    Regex,
    /// One line of text: values are literal and may not break the line.
    Line,
}

/// Characters left as they are in a percent-encoded path segment or query value (RFC 3986's
/// unreserved set).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Writes one value where it lands; `before` is what the string holds so far.
pub(crate) fn place(
    escape: Escape,
    before: &str,
    raw: bool,
    value: &str,
) -> Result<String, String> {
    let breaks = |v: &str| v.contains(['\n', '\r']);
    match escape {
        Escape::Data => Ok(value.to_owned()),
        Escape::Header => {
            if value.contains(['\n', '\r', '\0']) {
                Err("a value in a header holds a line break".into())
            } else {
                Ok(value.to_owned())
            }
        }
        _ if raw => Ok(value.to_owned()),
        Escape::Shell => shlex::try_quote(value)
            .map(|q| q.into_owned())
            .map_err(|_| "a value holds a NUL byte, which no command can take".into()),
        Escape::Regex => Ok(regex::escape(value)),
        Escape::Line if breaks(value) => Err(format!(
            "the value `{}` would break the line: a value here is one line",
            value.escape_debug()
        )),
        Escape::Line => Ok(value.to_owned()),
        Escape::Url => place_in_url(before, value),
    }
}

fn place_in_url(before: &str, value: &str) -> Result<String, String> {
    if before.is_empty() {
        // The base URL: the rest of the template adds the path to it.
        let url = reqwest::Url::parse(value)
            .map_err(|e| format!("the base URL `{value}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.query().is_some()
            || url.fragment().is_some()
            || breaks_url(value)
        {
            return Err(format!(
                "the base URL `{value}` must be an absolute http(s) URL without query or fragment"
            ));
        }
        return Ok(value.to_owned());
    }
    let in_authority = before.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.contains(['/', '?', '#'])
    });
    if in_authority {
        let host_like = !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:[]".contains(c));
        return if host_like {
            Ok(value.to_owned())
        } else {
            Err(format!("the value `{value}` is not a host name"))
        };
    }
    let in_path = !before.contains(['?', '#']);
    if in_path && matches!(value, "" | "." | "..") {
        return Err(format!(
            "the value `{value}` would change the URL's path: a value in a path is one segment"
        ));
    }
    Ok(utf8_percent_encode(value, COMPONENT).to_string())
}

fn breaks_url(value: &str) -> bool {
    value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Where a value would land inside quotes in a shell command template: there the quoting
/// done for the value would be cancelled by the template's own quotes. Returns the offending
/// `{{ ... }}`.
pub fn quoted_in_shell(source: &str) -> Option<&str> {
    #[derive(PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let mut quote = Quote::None;
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Every delimiter is ASCII: a byte inside a multi-byte character starts none.
        if let Some(rest) = source.get(i..)
            && let Some(close) = ["{{", "{%", "{#"]
                .iter()
                .find(|open| rest.starts_with(**open))
                .map(|open| match *open {
                    "{{" => "}}",
                    "{%" => "%}",
                    _ => "#}",
                })
        {
            let len = tag_len(rest, close);
            if rest.starts_with("{{") && quote != Quote::None {
                return Some(&rest[..len]);
            }
            i += len;
            continue;
        }
        match (bytes[i], &quote) {
            (b'\\', Quote::None | Quote::Double) => i += 1,
            (b'\'', Quote::None) => quote = Quote::Single,
            (b'\'', Quote::Single) => quote = Quote::None,
            (b'"', Quote::None) => quote = Quote::Double,
            (b'"', Quote::Double) => quote = Quote::None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The length of a template tag starting `rest`, up to its closing delimiter (skipping quoted
/// strings inside it), or all of `rest` when it is not closed.
fn tag_len(rest: &str, close: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut i = 2;
    let mut string: Option<u8> = None;
    while i < bytes.len() {
        match string {
            Some(_) if bytes[i] == b'\\' => i += 1,
            Some(q) if bytes[i] == q => string = None,
            Some(_) => {}
            None if bytes[i] == b'\'' || bytes[i] == b'"' => string = Some(bytes[i]),
            None if bytes[i..].starts_with(close.as_bytes()) => return i + close.len(),
            None => {}
        }
        i += 1;
    }
    rest.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_around_a_value_in_a_shell_command_are_found() {
        assert_eq!(quoted_in_shell("echo '{{ x }}'"), Some("{{ x }}"));
        assert_eq!(
            quoted_in_shell(r#"test "{{ x | default('a') }}" = b"#),
            Some("{{ x | default('a') }}")
        );
        assert_eq!(quoted_in_shell("dig +short {{ domain }}"), None);
        assert_eq!(quoted_in_shell("écho '{{ x }}' ü"), Some("{{ x }}"));
        assert_eq!(quoted_in_shell(r#"echo "it's" {{ x }} 'a'"#), None);
        assert_eq!(quoted_in_shell(r#"echo \' {{ x }}"#), None);
        assert_eq!(quoted_in_shell("{{ '\"' }} {{ x }}"), None);
    }

    #[test]
    fn url_values_never_leave_their_segment() {
        assert_eq!(
            place_in_url("http://h/dispatch/", "../a?b#").unwrap(),
            "..%2Fa%3Fb%23"
        );
        assert!(place_in_url("http://h/x/", "..").is_err());
        assert_eq!(place_in_url("http://h/x?q=", "").unwrap(), "");
        assert!(place_in_url("http://", "h/x").is_err());
        assert!(place_in_url("", "http://h/x?q").is_err());
        assert!(place_in_url("", "file:///etc/passwd").is_err());
        assert_eq!(
            place_in_url("", "http://h:8080/v2").unwrap(),
            "http://h:8080/v2"
        );
    }
}
