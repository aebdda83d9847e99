//! Unit tests of template rendering, escaping by landing place and condition evaluation.

use super::*;
use serde_json::json;

fn ctx(v: Value) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(&v))
}

#[test]
fn whole_expression_keeps_native_type() {
    let c = ctx(json!({"items": ["a", "b"], "n": 3}));
    assert_eq!(render_str("{{ items }}", &c).unwrap(), json!(["a", "b"]));
    assert_eq!(render_str("{{ n }}", &c).unwrap(), json!(3));
    assert_eq!(render_str("n={{ n }}", &c).unwrap(), json!("n=3"));
}

#[test]
fn undefined_names_fail() {
    assert!(render_str("{{ missing }}", &ctx(json!({}))).is_err());
    assert!(render_str("x {{ missing }}", &ctx(json!({}))).is_err());
}

#[test]
fn references_split_root_and_path() {
    let refs = references("http://{{ alb_dns }}/{{ env.OUTPOST_API_URL }}").unwrap();
    let roots: Vec<_> = refs
        .iter()
        .map(|r| (r.root.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(roots, vec![("alb_dns", ""), ("env", "OUTPOST_API_URL")]);
    assert!(references("{{ unclosed").is_err());
}

fn shell(source: &str, c: &minijinja::Value) -> String {
    render_escaped(source, c, Escape::Shell)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn shell_values_are_one_quoted_word_whatever_the_filter() {
    let c = ctx(
        json!({"domain": "x.com; touch PWNED", "cmd": "systemctl restart mcpify", "d": {"a": "$(id)"}}),
    );
    assert_eq!(
        shell("dig +short {{ domain }}", &c),
        "dig +short 'x.com; touch PWNED'"
    );
    assert_eq!(
        shell("dig {{ domain | tojson }}", &c),
        r#"dig '"x.com; touch PWNED"'"#
    );
    assert_eq!(
        shell("dig {{ domain | e }}", &c),
        "dig 'x.com; touch PWNED'"
    );
    assert_eq!(
        shell("dig {{ domain | safe }}", &c),
        "dig 'x.com; touch PWNED'"
    );
    assert_eq!(
        shell(
            "{% autoescape false %}dig {{ domain }}{% endautoescape %}",
            &c
        ),
        "dig 'x.com; touch PWNED'"
    );
    assert_eq!(shell("{{ domain }}", &c), "'x.com; touch PWNED'");
    assert_eq!(shell("{{ cmd | raw }}", &c), "systemctl restart mcpify");
    assert_eq!(shell("echo {{ d.a }}", &c), "echo '$(id)'");
    // A block that captures a value cannot be escaped reliably: refused.
    assert!(
        render_escaped(
            "{% filter upper %}{{ domain }}{% endfilter %}",
            &c,
            Escape::Shell
        )
        .is_err()
    );
    assert!(render_escaped("echo \u{E000}{{ domain }}", &c, Escape::Shell).is_err());
}

#[test]
fn url_values_are_segments_after_a_base() {
    let c = ctx(json!({
        "api_url": "http://127.0.0.1:8080", "id": "../../admin/delete?all=true#",
        "dot": "..", "domain": "api.outpost.dev", "evil_host": "x.com/admin?",
        "alb_endpoint": "", "alb_dns": "alb-1.elb.amazonaws.com", "q": "a b&c=d",
    }));
    let url = |s: &str| render_escaped(s, &c, Escape::Url).map(|v| v.as_str().unwrap().to_owned());
    assert_eq!(
        url("{{ api_url }}/dispatch/{{ id }}").unwrap(),
        "http://127.0.0.1:8080/dispatch/..%2F..%2Fadmin%2Fdelete%3Fall%3Dtrue%23"
    );
    assert_eq!(
        url("{{ api_url }}/x?q={{ q }}").unwrap(),
        "http://127.0.0.1:8080/x?q=a%20b%26c%3Dd"
    );
    assert_eq!(
        url("{{ alb_endpoint or ('http://' ~ alb_dns) }}/health/live").unwrap(),
        "http://alb-1.elb.amazonaws.com/health/live"
    );
    assert_eq!(
        url("https://{{ domain }}/health/live").unwrap(),
        "https://api.outpost.dev/health/live"
    );
    assert!(
        url("https://{{ evil_host }}/health")
            .unwrap_err()
            .contains("not a host name")
    );
    assert!(
        url("{{ api_url }}/dispatch/{{ dot }}")
            .unwrap_err()
            .contains("path")
    );
    assert!(url("{{ id }}/x").unwrap_err().contains("base URL"));
    assert!(url("{{ domain }}/x").unwrap_err().contains("base URL"));
}

#[test]
fn patterns_and_lines_take_values_literally() {
    let c = ctx(json!({"name": ".*", "multi": "a\nb", "cost": "$1"}));
    let regex = render_escaped("instanceId: '{{ name }}'", &c, Escape::Regex).unwrap();
    assert_eq!(regex, json!("instanceId: '\\.\\*'"));
    assert!(
        render_escaped("x {{ multi }}", &c, Escape::Line)
            .unwrap_err()
            .contains("break the line")
    );
    assert_eq!(
        render_escaped("price {{ cost }}", &c, Escape::Line).unwrap(),
        json!("price $1")
    );
    assert!(render_escaped("Bearer {{ multi }}", &c, Escape::Header).is_err());
    // Data keeps the value and its type.
    assert_eq!(
        render_escaped("{{ multi }}", &c, Escape::Data).unwrap(),
        json!("a\nb")
    );
}

#[test]
fn unknown_filters_tests_and_functions_are_errors() {
    assert_eq!(
        references("{{ x | urlencode }}").unwrap_err(),
        "unknown filter `urlencode`"
    );
    assert_eq!(
        references("a {{ x | nope(1) }}").unwrap_err(),
        "unknown filter `nope`"
    );
    assert_eq!(
        condition_references("x is nothing").unwrap_err(),
        "unknown test `nothing`"
    );
    assert_eq!(
        references("{{ frob(1) }}").unwrap_err(),
        "unknown function `frob`"
    );
    let ok = references("{{ x | default('a') | trim }} {{ range(3) | list }} {{ y is defined }}")
        .unwrap();
    let roots: Vec<_> = ok.iter().map(|r| r.root.as_str()).collect();
    assert_eq!(roots, vec!["x", "y"]);
}

#[test]
fn raw_takes_one_name_only() {
    assert_eq!(raw_names("{{ restart | raw }}").unwrap(), vec!["restart"]);
    assert_eq!(raw_names("sudo {{- a|raw -}} x").unwrap(), vec!["a"]);
    assert!(raw_names("{{ env.X | raw }}").is_err());
    assert!(raw_names("{{ (a ~ b) | raw }}").is_err());
    assert!(raw_names("{{ a | trim | raw }}").is_err());
    assert!(raw_names("{% if a %}{{ a | raw }}{% endif %}").unwrap() == vec!["a"]);
    assert!(raw_names("{{ drawer }}").unwrap().is_empty());
}

#[test]
fn runaway_templates_fail_without_building_their_value() {
    let c = ctx(json!({}));
    let err = render_items("{{ ['x'] * 100000000 }}", &c, 1000).unwrap_err();
    assert!(err.contains("100000000 items; the limit is 1000"), "{err}");
    // Nested inside a list, the lazy repetition is walked only as far as the budget.
    let err = render_str("{{ [['x'] * 100000000] }}", &c).unwrap_err();
    assert!(err.contains("too large"), "{err}");
    let err = render_str("{{ 'x' * 100000000 }}", &c).unwrap_err();
    assert!(err.contains("fuel"), "{err}");
    assert_eq!(
        render_items("{{ ['a', 'b'] }}", &c, 2).unwrap(),
        vec![json!("a"), json!("b")]
    );
    assert!(render_items("{{ ['a', 'b', 'c'] }}", &c, 2).is_err());
}

#[test]
fn conditions_use_truthiness() {
    let c = ctx(json!({"domain": "", "other": "x"}));
    assert!(!eval_condition("domain", &c).unwrap());
    assert!(eval_condition("other", &c).unwrap());
    assert!(eval_condition("domain == ''", &c).unwrap());
}
