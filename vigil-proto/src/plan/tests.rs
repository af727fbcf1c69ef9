//! Tests of the plan as a whole: loading directories, merging, validation
//! messages and the printed plan. Paths in messages are shown relative to a
//! directory called `layers`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("vigil-plan-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn write(&self, name: &str, text: &str) -> &TempDir {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn relative(dir: &Path, text: &str) -> String {
    text.replace(&dir.display().to_string(), "layers")
}

/// Loads the files; on success the plan, on failure the problem lines.
fn load_files(files: &[(&str, &str)]) -> Result<Built, Vec<String>> {
    let dir = TempDir::new();
    for (name, text) in files {
        dir.write(name, text);
    }
    match load(&dir.0) {
        Ok((_, built)) => Ok(built),
        Err(error) => Err(error
            .problems
            .iter()
            .map(|p| relative(&dir.0, &p.to_string()))
            .collect()),
    }
}

fn plan_of(files: &[(&str, &str)]) -> Plan {
    match load_files(files) {
        Ok(built) => built.plan,
        Err(problems) => panic!("unexpected problems:\n{}", problems.join("\n")),
    }
}

/// The problems of one layer file `010-web.yaml`.
fn problems(text: &str) -> Vec<String> {
    match load_files(&[("010-web.yaml", text)]) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

/// Asserts that one layer has exactly this one problem.
#[track_caller]
fn assert_problem(text: &str, expected: &str) {
    let found = problems(text);
    assert_eq!(found, vec![expected.to_string()], "layer:\n{text}");
}

// ----- merging -----

#[test]
fn overlay_without_startup_keeps_it() {
    let plan = plan_of(&[
        (
            "010-base.yaml",
            "services:\n  web:\n    command: webd\n    startup: enabled\n",
        ),
        ("020-over.yaml", "services:\n  web:\n    kill-delay: 2s\n"),
    ]);
    let web = &plan.services()["web"];
    assert_eq!(web.startup, Some(Startup::Enabled));
    assert_eq!(web.kill_delay, Some(std::time::Duration::from_secs(2)));
    assert_eq!(web.override_, Some(Override::Merge));
}

#[test]
fn replace_swaps_the_whole_entry() {
    let plan = plan_of(&[
        (
            "010-base.yaml",
            "services:\n  web:\n    command: webd\n    startup: enabled\n    environment: {A: '1'}\n",
        ),
        (
            "020-over.yaml",
            "services:\n  web:\n    override: replace\n    command: other\n",
        ),
    ]);
    let web = &plan.services()["web"];
    assert_eq!(web.command.as_deref(), Some("other"));
    assert_eq!(web.startup, None);
    assert!(web.environment.is_empty());
    assert_eq!(web.override_, Some(Override::Replace));
}

#[test]
fn override_mode_is_an_alias() {
    let plan = plan_of(&[
        (
            "010-base.yaml",
            "services:\n  web:\n    command: webd\n    startup: enabled\n",
        ),
        (
            "020-over.yaml",
            "services:\n  web:\n    override-mode: replace\n    command: other\n",
        ),
    ]);
    assert_eq!(plan.services()["web"].startup, None);
}

#[test]
fn lists_append_without_duplicates() {
    let plan = plan_of(&[
        (
            "010-base.yaml",
            "services:\n  a: {command: a}\n  b: {command: b}\n  c: {command: c}\n  web:\n    command: webd\n    after: [a, b]\n",
        ),
        (
            "020-over.yaml",
            "services:\n  web:\n    after: [b, c, a]\n    requires: [c]\n",
        ),
    ]);
    let web = &plan.services()["web"];
    assert_eq!(web.after, ["a", "b", "c"]);
    assert_eq!(web.requires, ["c"]);
}

#[test]
fn environment_maps_merge_by_key() {
    let plan = plan_of(&[
        (
            "010-base.yaml",
            "services:\n  web:\n    command: webd\n    environment:\n      A: one\n      B: two\n",
        ),
        (
            "020-over.yaml",
            "services:\n  web:\n    environment:\n      B: deux\n      C: 3\n",
        ),
    ]);
    let env = &plan.services()["web"].environment;
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(pairs, [("A", "one"), ("B", "deux"), ("C", "3")]);
}

#[test]
fn explicit_false_overrides_and_null_does_not() {
    let plan = plan_of(&[
        (
            "010-base.yaml",
            "checks:\n  api:\n    level: ready\n    http:\n      url: http://x/\n      insecure: true\n",
        ),
        (
            "020-over.yaml",
            "checks:\n  api:\n    level:\n    http:\n      insecure: false\n",
        ),
    ]);
    let api = &plan.checks()["api"];
    assert_eq!(api.level, Some(CheckLevel::Ready));
    let http = api.http.as_ref().unwrap();
    assert_eq!(http.insecure, Some(false));
    assert_eq!(http.url.as_deref(), Some("http://x/"));
}

#[test]
fn checks_merge_field_wise() {
    let plan = plan_of(&[
        (
            "010-base.yaml",
            "checks:\n  api:\n    period: 5s\n    http:\n      url: http://x/\n      headers: {A: a}\n      success-statuses: [200]\n",
        ),
        (
            "020-over.yaml",
            "checks:\n  api:\n    threshold: 5\n    http:\n      headers: {B: b}\n      success-statuses: [204, 200]\n",
        ),
    ]);
    let api = &plan.checks()["api"];
    assert_eq!(api.period, Some(std::time::Duration::from_secs(5)));
    assert_eq!(api.threshold, Some(5));
    let http = api.http.as_ref().unwrap();
    assert_eq!(http.headers.len(), 2);
    assert_eq!(http.success_statuses, [200, 204]);
}

#[test]
fn switching_probe_kind_needs_replace() {
    let files = [
        (
            "010-base.yaml",
            "checks:\n  api:\n    http:\n      url: http://x/\n",
        ),
        (
            "020-over.yaml",
            "checks:\n  api:\n    tcp:\n      port: 80\n",
        ),
    ];
    assert_eq!(
        load_files(&files).unwrap_err(),
        [
            "plan: check \"api\": must have exactly one of \"http\", \"tcp\" or \"exec\" (has http, tcp) (defined in 010-base.yaml, 020-over.yaml)"
        ]
    );
    let replaced = plan_of(&[
        files[0],
        (
            "020-over.yaml",
            "checks:\n  api:\n    override: replace\n    tcp:\n      port: 80\n",
        ),
    ]);
    assert!(replaced.checks()["api"].http.is_none());
}

#[test]
fn alerts_merge_per_the_spec() {
    let plan = plan_of(&[
        (
            "010-base.yaml",
            "checks:\n  a: {exec: {command: 'true'}}\n  b: {exec: {command: 'true'}}\nalerts:\n  max-queue-depth: 10\n  pager:\n    url: http://x/\n    on-check: [a]\n    retry-backoff: [1s, 2s, 4s]\n    labels: {team: x}\n",
        ),
        (
            "020-over.yaml",
            "alerts:\n  max-queue-depth: 20\n  pager:\n    on-check: [b, a]\n    retry-backoff: [5s]\n    labels: {env: prod}\n",
        ),
    ]);
    let alerts = plan.alerts();
    assert_eq!(alerts.max_queue_depth, Some(20));
    let pager = &alerts.entries["pager"];
    assert_eq!(pager.on_check, ["a", "b"]);
    assert_eq!(
        pager.retry_backoff,
        Some(vec![std::time::Duration::from_secs(5)])
    );
    assert_eq!(pager.labels.len(), 2);
    assert_eq!(pager.url.as_deref(), Some("http://x/"));
}

#[test]
fn empty_file_is_an_empty_layer() {
    let plan = plan_of(&[
        ("010-empty.yaml", ""),
        ("020-comments.yml", "# nothing here\n"),
    ]);
    assert_eq!(plan, Plan::default());
    assert_eq!(plan.to_yaml(), "{}\n");
}

#[test]
fn missing_directory_is_an_empty_plan() {
    let (layers, built) = load(Path::new("/nonexistent/vigil/layers")).unwrap();
    assert!(layers.is_empty());
    assert_eq!(built.plan.to_yaml(), "{}\n");
}

// ----- directory rules -----

#[test]
fn directory_order_labels_and_sublayers() {
    let dir = TempDir::new();
    dir.write("020-web.yaml", "services:\n  web: {command: b}\n")
        .write(
            "010-base.yaml",
            "services:\n  web: {command: a, startup: enabled}\n",
        )
        .write(
            "015-extra.d/001-one.yaml",
            "services:\n  web: {command: c}\n",
        )
        .write("zz.yml", "services:\n  web: {kill-delay: 1s}\n")
        .write(".hidden.yaml", "not: [valid")
        .write("README.md", "not a layer")
        .write("notes.txt", "x: y");
    std::fs::create_dir_all(dir.0.join("plain-dir")).unwrap();
    let (layers, built) = load(&dir.0).unwrap();
    let labels: Vec<&str> = layers.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(labels, ["base", "extra/one", "web", "zz"]);
    let web = &built.plan.services()["web"];
    assert_eq!(web.command.as_deref(), Some("b"));
    assert_eq!(web.startup, Some(Startup::Enabled));
}

#[test]
fn symlinked_layers_are_followed() {
    let dir = TempDir::new();
    dir.write("..data/010-web.yaml", "services:\n  web: {command: webd}\n");
    std::os::unix::fs::symlink(
        dir.0.join("..data/010-web.yaml"),
        dir.0.join("010-web.yaml"),
    )
    .unwrap();
    let (layers, _) = load(&dir.0).unwrap();
    assert_eq!(layers.len(), 1);
}

#[test]
fn duplicate_labels_name_both_files() {
    let problems = load_files(&[
        ("010-web.yaml", "services: {}\n"),
        ("020-web.yaml", "services: {}\n"),
    ])
    .unwrap_err();
    assert_eq!(
        problems,
        ["layers/020-web.yaml: layer label \"web\" is also used by layers/010-web.yaml"]
    );
}

#[test]
fn nested_sublayer_directories_are_an_error() {
    let problems = load_files(&[("010-a.d/020-b.d/x.yaml", "services: {}\n")]).unwrap_err();
    assert_eq!(
        problems,
        ["layers/010-a.d/020-b.d: sub-layer directories cannot be nested"]
    );
}

#[test]
fn every_problem_from_every_file_is_reported() {
    let problems = load_files(&[
        (
            "010-a.yaml",
            "services:\n  web:\n    kill_delay: 5s\n    backoff-limit: 30\n",
        ),
        ("020-b.yaml", "services: [oops\n"),
        (
            "030-c.yaml",
            "checks:\n  api:\n    http:\n      timeout: 1s\n",
        ),
    ])
    .unwrap_err();
    assert_eq!(
        problems,
        [
            "layers/010-a.yaml:3:5: services.web.kill_delay: unknown key (did you mean \"kill-delay\"?)",
            "layers/010-a.yaml:4:20: services.web.backoff-limit: invalid duration 30: a number needs a unit, such as \"30s\" or \"500ms\"",
            "layers/020-b.yaml:2:1: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence",
            "layers/030-c.yaml:4:7: checks.api.http.timeout: unknown key; \"timeout\" belongs to the check, not to \"http\"",
        ]
    );
}

#[test]
fn layer_and_plan_problems_are_reported_together() {
    let problems = load_files(&[(
        "010-web.yaml",
        "services:\n  web:\n    command: webd\n    stop-signal: SIGTREM\n  worker:\n    command: w\n    requires: [queue]\n",
    )])
    .unwrap_err();
    assert_eq!(
        problems,
        [
            "layers/010-web.yaml:4:18: services.web.stop-signal: invalid signal \"SIGTREM\" (expected a name such as SIGTERM, SIGINT, SIGHUP, SIGUSR1 or SIGKILL; did you mean \"SIGTERM\"?)",
            "plan: service \"worker\": requires unknown service \"queue\" (defined in 010-web.yaml)",
        ]
    );
}

// ----- bad inputs, one problem each -----

#[test]
fn unknown_key_with_suggestion() {
    assert_problem(
        "services:\n  web:\n    command: webd\n    stop-signl: TERM\n",
        "layers/010-web.yaml:4:5: services.web.stop-signl: unknown key (did you mean \"stop-signal\"?)",
    );
}

#[test]
fn underscore_key_suggests_the_hyphen_form() {
    assert_problem(
        "checks:\n  c: {exec: {command: x}}\nalerts:\n  pager:\n    url: http://x/\n    send_info_fields: {a: b}\n",
        "layers/010-web.yaml:6:5: alerts.pager.send_info_fields: unknown key (did you mean \"send-info-fields\"?)",
    );
}

#[test]
fn unknown_key_without_suggestion() {
    assert_problem(
        "services:\n  web:\n    command: webd\n    colour: blue\n",
        "layers/010-web.yaml:4:5: services.web.colour: unknown key",
    );
}

#[test]
fn unknown_top_level_key() {
    assert_problem(
        "service:\n  web: {}\n",
        "layers/010-web.yaml:1:1: service: unknown key (did you mean \"services\"?)",
    );
}

#[test]
fn merge_keys_are_unknown_keys() {
    assert_problem(
        "x: &base {command: webd}\n",
        "layers/010-web.yaml:1:1: x: unknown key",
    );
    assert_problem(
        "services:\n  web:\n    <<: {command: webd}\n    command: webd\n",
        "layers/010-web.yaml:3:5: services.web.<<: unknown key",
    );
}

#[test]
fn wrong_type_list_for_scalar() {
    assert_problem(
        "services:\n  web:\n    command: [webd]\n",
        "layers/010-web.yaml:3:14: services.web.command: expected a string, found a list",
    );
}

#[test]
fn wrong_type_scalar_for_list() {
    assert_problem(
        "services:\n  db: {command: db}\n  web:\n    command: webd\n    after: db\n",
        "layers/010-web.yaml:5:12: services.web.after: expected a list of names, found a scalar",
    );
}

#[test]
fn wrong_type_quoted_number() {
    assert_problem(
        "services:\n  web:\n    command: webd\n    backoff-factor: \"2\"\n",
        "layers/010-web.yaml:4:21: services.web.backoff-factor: expected a number, found the string \"2\"",
    );
}

#[test]
fn wrong_type_in_string_map() {
    assert_problem(
        "services:\n  web:\n    command: webd\n    environment:\n      A: [1]\n",
        "layers/010-web.yaml:5:10: services.web.environment.A: expected a string, found a list",
    );
}

#[test]
fn yes_is_not_a_boolean() {
    assert_problem(
        "checks:\n  api:\n    http:\n      url: http://x/\n      insecure: yes\n",
        "layers/010-web.yaml:5:17: checks.api.http.insecure: expected true or false, found \"yes\"",
    );
}

#[test]
fn bare_number_duration() {
    assert_problem(
        "services:\n  web:\n    command: webd\n    kill-delay: 5\n",
        "layers/010-web.yaml:4:17: services.web.kill-delay: invalid duration 5: a number needs a unit, such as \"5s\" or \"500ms\"",
    );
}

#[test]
fn unknown_duration_unit() {
    assert_problem(
        "services:\n  web:\n    command: webd\n    backoff-delay: 5sec\n",
        "layers/010-web.yaml:4:20: services.web.backoff-delay: invalid duration 5sec: unknown unit \"sec\" (expected ns, us, µs, ms, s, m or h)",
    );
}

#[test]
fn zero_period_is_rejected() {
    assert_problem(
        "checks:\n  api:\n    period: 0\n    tcp: {port: 80}\n",
        "layers/010-web.yaml:3:13: checks.api.period: period must be greater than zero",
    );
}

#[test]
fn signal_numbers_are_rejected() {
    assert_problem(
        "services:\n  web:\n    command: webd\n    stop-signal: 15\n",
        "layers/010-web.yaml:4:18: services.web.stop-signal: invalid signal 15: write a signal name such as \"SIGTERM\" or \"TERM\", not a number",
    );
}

#[test]
fn bad_enumerated_value_lists_the_choices() {
    assert_problem(
        "services:\n  web:\n    command: webd\n    startup: enable\n",
        "layers/010-web.yaml:4:14: services.web.startup: invalid value \"enable\" (expected \"enabled\" or \"disabled\"; did you mean \"enabled\"?)",
    );
    assert_problem(
        "services:\n  web:\n    command: webd\n    on-failure: restrat\n",
        "layers/010-web.yaml:4:17: services.web.on-failure: invalid value \"restrat\" (expected \"restart\", \"ignore\", \"shutdown\", \"success-shutdown\" or \"failure-shutdown\"; did you mean \"restart\"?)",
    );
}

#[test]
fn failure_shutdown_is_not_a_check_action() {
    assert_problem(
        "services:\n  web:\n    command: webd\n    on-check-failure:\n      api: failure-shutdown\n",
        "layers/010-web.yaml:5:12: services.web.on-check-failure.api: invalid value \"failure-shutdown\" (expected \"restart\", \"shutdown\", \"success-shutdown\" or \"ignore\")",
    );
}

#[test]
fn bad_override_value() {
    assert_problem(
        "services:\n  web:\n    override: replaced\n    command: webd\n",
        "layers/010-web.yaml:3:15: services.web.override: invalid value \"replaced\" (expected \"merge\" or \"replace\"; did you mean \"replace\"?)",
    );
}

#[test]
fn override_and_alias_must_agree() {
    assert_problem(
        "services:\n  web:\n    override: merge\n    override-mode: replace\n    command: webd\n",
        "layers/010-web.yaml:4:20: services.web.override-mode: override-mode \"replace\" disagrees with override \"merge\" (give one of them)",
    );
}

#[test]
fn backoff_factor_below_one() {
    assert_problem(
        "services:\n  web:\n    command: webd\n    backoff-factor: 0.5\n",
        "layers/010-web.yaml:4:21: services.web.backoff-factor: backoff-factor must be 1.0 or greater, not 0.5",
    );
}

#[test]
fn threshold_zero_is_rejected() {
    assert_problem(
        "checks:\n  api:\n    threshold: 0\n    tcp: {port: 80}\n",
        "layers/010-web.yaml:3:16: checks.api.threshold: threshold must be 1 or greater, not 0",
    );
}

#[test]
fn port_out_of_range() {
    assert_problem(
        "checks:\n  api:\n    tcp: {port: 70000}\n",
        "layers/010-web.yaml:3:17: checks.api.tcp.port: port must be between 1 and 65535, not 70000",
    );
}

#[test]
fn relative_check_url() {
    assert_problem(
        "checks:\n  api:\n    http: {url: /healthz}\n",
        "layers/010-web.yaml:3:17: checks.api.http.url: invalid URL \"/healthz\": expected an absolute http:// or https:// URL",
    );
}

#[test]
fn timeout_inside_http_belongs_to_the_check() {
    assert_problem(
        "checks:\n  api:\n    http:\n      url: http://x/\n      timeout: 1s\n",
        "layers/010-web.yaml:5:7: checks.api.http.timeout: unknown key; \"timeout\" belongs to the check, not to \"http\"",
    );
}

#[test]
fn pairing_and_identities_sections_are_refused() {
    assert_problem(
        "pairing:\n  mode: single\n",
        "layers/010-web.yaml:1:1: pairing: the \"pairing\" section is not supported by vigild",
    );
    assert_problem(
        "identities:\n  bob: {access: admin}\n",
        "layers/010-web.yaml:1:1: identities: identities are not configured in layers; use vigild --identities FILE or the identities API",
    );
}

#[test]
fn null_entry_is_an_error() {
    assert_problem(
        "services:\n  web: null\n",
        "layers/010-web.yaml:2:8: services.web: service \"web\" cannot be null",
    );
}

#[test]
fn duplicate_key_is_an_error() {
    assert_problem(
        "services:\n  web:\n    command: a\n    command: b\n",
        "layers/010-web.yaml:4:5: services.web.command: duplicate key",
    );
}

#[test]
fn top_level_must_be_a_mapping() {
    assert_problem(
        "- a\n- b\n",
        "layers/010-web.yaml:1:1: expected a mapping at the top level, found a list",
    );
}

#[test]
fn tab_indented_yaml() {
    assert_problem(
        "services:\n\tweb:\n\t\tcommand: webd\n",
        "layers/010-web.yaml:2:1: invalid YAML: found character that cannot start any token while scanning for the next token; tabs cannot indent YAML, use spaces",
    );
}

#[test]
fn second_document_is_an_error() {
    assert_problem(
        "services: {}\n---\nchecks: {}\n",
        "layers/010-web.yaml:2:1: a layer file holds one YAML document; found a second one",
    );
}

#[test]
fn unterminated_quote_in_command() {
    assert_problem(
        "services:\n  web:\n    command: sh -c 'echo hi\n",
        "layers/010-web.yaml:3:14: services.web.command: cannot parse command \"sh -c 'echo hi\": EOF found when expecting closing quote",
    );
}

#[test]
fn arguments_after_default_group() {
    assert_problem(
        "services:\n  web:\n    command: webd [ --port 80 ] extra\n",
        "layers/010-web.yaml:3:14: services.web.command: cannot parse command \"webd [ --port 80 ] extra\": cannot have any arguments after [ ... ] group",
    );
}

#[test]
fn invalid_names() {
    assert_problem(
        "services:\n  'a b':\n    command: x\n",
        "layers/010-web.yaml:2:3: services.\"a b\": invalid name \"a b\": names cannot contain whitespace, control characters, \",\" or \"/\" (found ' ')",
    );
    assert_problem(
        "services:\n  -web:\n    command: x\n",
        "layers/010-web.yaml:2:3: services.-web: invalid name \"-web\": names cannot start with \"-\"",
    );
}

#[test]
fn environment_names_cannot_hold_equals() {
    assert_problem(
        "services:\n  web:\n    command: x\n    environment: {'A=B': c}\n",
        "layers/010-web.yaml:4:19: services.web.environment.A=B: invalid environment variable name \"A=B\": it cannot contain \"=\" or a NUL byte",
    );
}

#[test]
fn missing_command() {
    assert_problem(
        "services:\n  web:\n    startup: enabled\n",
        "plan: service \"web\": must define \"command\" (defined in 010-web.yaml)",
    );
}

#[test]
fn before_after_cycle() {
    assert_problem(
        "services:\n  a: {command: a, after: [c]}\n  b: {command: b, after: [a]}\n  c: {command: c, before: [a], after: [b]}\n  d: {command: d, after: [a]}\n",
        "plan: services in before/after loop: a, b, c",
    );
}

#[test]
fn unknown_after_target_is_a_warning() {
    let built = load_files(&[(
        "010-web.yaml",
        "services:\n  web: {command: webd, after: [db]}\n",
    )])
    .unwrap();
    assert_eq!(
        built.warnings,
        ["service \"web\": after names unknown service \"db\""]
    );
}

#[test]
fn probe_required_keys() {
    assert_problem(
        "checks:\n  api:\n    http: {headers: {A: b}}\n",
        "plan: check \"api\": http check must set \"url\" (defined in 010-web.yaml)",
    );
    assert_problem(
        "checks:\n  api:\n    level: alive\n",
        "plan: check \"api\": must have exactly one of \"http\", \"tcp\" or \"exec\" (has none) (defined in 010-web.yaml)",
    );
}

#[test]
fn exec_check_group_needs_a_user() {
    assert_problem(
        "checks:\n  api:\n    exec: {command: 'true', group: staff}\n",
        "plan: check \"api\": must specify user, not just group (defined in 010-web.yaml)",
    );
}

#[test]
fn unknown_service_context() {
    assert_problem(
        "checks:\n  api:\n    exec: {command: 'true', service-context: web}\n",
        "plan: check \"api\": service-context names unknown service \"web\" (defined in 010-web.yaml)",
    );
}

#[test]
fn workload_rules() {
    assert_problem(
        "services:\n  web: {command: x, workload: batch}\n",
        "plan: service \"web\": workload \"batch\" is not defined (defined in 010-web.yaml)",
    );
    assert_problem(
        "workloads:\n  batch: {user: nobody}\nservices:\n  web: {command: x, workload: batch, user: root}\n",
        "plan: service \"web\": cannot have user information and a workload at the same time (defined in 010-web.yaml)",
    );
}

#[test]
fn body_template_only_with_webhook() {
    assert_problem(
        "alerts:\n  pager:\n    url: http://x/\n    format: alertmanager\n    body-template: '{}'\n",
        "plan: alert \"pager\": body-template can only be used with format webhook (defined in 010-web.yaml)",
    );
}

// The body-template compile check needs the `templates` feature, which
// vigild turns on; this crate's dev-dependency on itself turns it on here.

#[test]
fn body_template_that_does_not_compile_fails_the_load() {
    assert_problem(
        "alerts:\n  pager:\n    url: http://x/\n    body-template: '{\"text\": \"{{ check }\"}'\n",
        "plan: alert \"pager\": body-template: line 1, column 20: syntax error: \
         unexpected `}`, expected end of variable block (defined in 010-web.yaml)",
    );
}

#[test]
fn body_template_errors_give_the_line_and_column_in_the_template() {
    // The block scalar's indentation is not part of the template: the `)`
    // is in column 30 of the template's second line.
    let layer = "alerts:\n  pager:\n    url: http://x/\n    body-template: |\n      {\"text\": \"{{ check }}\",\n       \"status\": {{ status | upper ) }}}\n";
    assert_problem(
        layer,
        "plan: alert \"pager\": body-template: line 2, column 30: syntax error: \
         unexpected `)`, expected end of variable block (defined in 010-web.yaml)",
    );
}

#[test]
fn body_template_of_the_spec_compiles() {
    // checks-and-alerts.md §11.2. Filters are looked up when the template
    // renders, so an unknown one is not a load error (it falls back to the
    // default body then).
    for template in [
        r#"{"text": "{{ check }} is {{ status | upper }}", "team": {{ labels.team | tojson }}}"#,
        r#"{"text": {{ check | no_such_filter }}}"#,
    ] {
        let layer =
            format!("alerts:\n  pager:\n    url: http://x/\n    body-template: '{template}'\n");
        assert_eq!(problems(&layer), Vec::<String>::new(), "{template}");
    }
}

#[test]
fn body_template_in_an_api_layer_names_the_layer() {
    let base = Layer::parse("{}", "base", "001-base.yaml", Source::File("x".into())).unwrap();
    let api = Layer::parse(
        "alerts:\n  pager:\n    url: http://x/\n    body-template: '{% for %}'\n",
        "extra",
        "extra",
        Source::Api("extra".into()),
    )
    .unwrap();
    let error = Plan::build(&[base, api]).unwrap_err();
    assert_eq!(
        error.render(r#"cannot add layer "extra""#, ""),
        "cannot add layer \"extra\": 1 problem\n\
         plan: alert \"pager\": body-template: line 1, column 8: syntax error: \
         unexpected end of block, expected in (defined in extra)"
    );
}

#[test]
fn body_template_with_the_wrong_format_is_still_compiled() {
    let found = problems(
        "alerts:\n  pager:\n    url: http://x/\n    format: otlp-logs\n    body-template: '{{'\n",
    );
    assert_eq!(
        found,
        [
            "plan: alert \"pager\": body-template can only be used with format webhook (defined in 010-web.yaml)",
            "plan: alert \"pager\": body-template: line 1, column 1: syntax error: unexpected end of input, expected expression (defined in 010-web.yaml)",
        ]
    );
}

#[test]
fn alert_needs_a_url() {
    assert_problem(
        "alerts:\n  pager:\n    format: webhook\n",
        "plan: alert \"pager\": must define \"url\" (defined in 010-web.yaml)",
    );
}

#[test]
fn unreadable_ca_file() {
    assert_problem(
        "checks:\n  api:\n    http: {url: 'https://x/', ca: /nonexistent/ca.pem}\n",
        "plan: check \"api\": cannot read ca file \"/nonexistent/ca.pem\": no such file or directory (defined in 010-web.yaml)",
    );
}

#[test]
fn passthrough_and_push_do_not_mix() {
    assert_problem(
        "services:\n  web: {command: x, logs-forward: passthrough, logs-push-addr: 'localhost:5000'}\n",
        "plan: service \"web\": logs-push-addr/logs-push-socket need logs-forward enabled or disabled, not passthrough (defined in 010-web.yaml)",
    );
}

#[test]
fn bad_push_address() {
    assert_problem(
        "services:\n  web: {command: x, logs-push-addr: 'localhost'}\n",
        "layers/010-web.yaml:2:37: services.web.logs-push-addr: invalid address \"localhost\": expected host:port",
    );
}

#[test]
fn log_target_rules() {
    assert_problem(
        "log-targets:\n  loki:\n    type: loki\n    location: http://x/\n    labels: {pebble_x: y}\n",
        "layers/010-web.yaml:5:13: log-targets.loki.labels.pebble_x: label names starting with \"pebble_\" are reserved",
    );
    let problems = load_files(&[(
        "010-web.yaml",
        "log-targets:\n  loki:\n    type: loki\n    services: [web]\n",
    )])
    .unwrap_err();
    assert_eq!(
        problems,
        [
            "plan: log target \"loki\": must define \"location\" (defined in 010-web.yaml)",
            "plan: log target \"loki\": unknown service \"web\" (defined in 010-web.yaml)",
        ]
    );
}

#[test]
fn log_targets_warn_that_nothing_is_sent() {
    let built = load_files(&[(
        "010-web.yaml",
        "log-targets:\n  loki: {type: loki, location: 'http://x/'}\n",
    )])
    .unwrap();
    assert_eq!(
        built.warnings,
        [
            "log target \"loki\": vigild does not forward logs to log targets; use logs-push-addr or logs-push-socket"
        ]
    );
}

#[test]
fn a_bad_value_is_not_reported_again_as_missing() {
    assert_problem(
        "checks:\n  api:\n    tcp: {port: 0}\n",
        "layers/010-web.yaml:3:17: checks.api.tcp.port: port must be between 1 and 65535, not 0",
    );
}

#[test]
fn retry_attempts_range_and_env_urls() {
    assert_problem(
        "alerts:\n  pager:\n    url: env:PAGER_URL\n    retry-attempts: 21\n",
        "layers/010-web.yaml:4:21: alerts.pager.retry-attempts: retry-attempts must be between 1 and 20, not 21",
    );
}

#[test]
fn every_key_of_every_entry_is_known() {
    // A layer that uses every key once: a key list and its decoder cannot
    // drift apart without this test failing.
    let dir = TempDir::new();
    let ca = dir.0.join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let ca = ca.display();
    let text = format!(
        "summary: s\ndescription: d\n\
services:\n  db: {{command: db}}\n  web:\n    override: merge\n    override-mode: merge\n    summary: s\n    description: d\n    startup: enabled\n    command: webd [ -x ]\n    after: [db]\n    before: []\n    requires: [db]\n    environment: {{A: b}}\n    user-id: 1\n    user: u\n    group-id: 2\n    group: g\n    working-dir: /tmp\n    on-success: ignore\n    on-failure: shutdown\n    on-check-failure: {{api: restart}}\n    backoff-delay: 1s\n    backoff-factor: 1.5\n    backoff-limit: 10s\n    kill-delay: 2s\n    stop-signal: INT\n    logs-forward: enabled\n    logs-push-addr: '[::1]:5000'\n    logs-push-socket: /run/x.sock\n    logs-push-format: ndjson\n\
checks:\n  api:\n    override: replace\n    level: ready\n    startup: disabled\n    period: 5s\n    timeout: 1s\n    threshold: 2\n    delay: 0\n    http: {{url: 'https://x/', headers: {{A: b}}, insecure: true, ca: '{ca}', success-statuses: [200], no-follow-redirects: true}}\n  \
t: {{tcp: {{port: 80, host: h}}}}\n  e: {{exec: {{command: 'true', service-context: web, environment: {{A: b}}, user: u, user-id: 1, group: g, group-id: 2, working-dir: /}}}}\n\
log-targets:\n  l: {{override: merge, type: syslog, location: 'udp://x', services: [all, -db], labels: {{a: b}}}}\n\
workloads:\n  w: {{override: merge, environment: {{A: b}}, user: u, user-id: 1, group: g, group-id: 2}}\n\
alerts:\n  max-queue-depth: 5\n  max-queue-time: 1m\n  pager:\n    override: merge\n    url: 'http://x/'\n    format: webhook\n    on-check: [api]\n    headers: {{A: b}}\n    labels: {{a: b}}\n    send-info-fields: {{a: b}}\n    body-template: '{{{{ check }}}}'\n    tls-insecure: false\n    tls-ca: '{ca}'\n    proxy: 'http://proxy:3128'\n    proxy-ca: '{ca}'\n    no-proxy: localhost\n    retry-attempts: 3\n    retry-backoff: [1s]\n    timeout: 5s\n"
    );
    dir.write("010-all.yaml", &text);
    let (_, built) = load(&dir.0).unwrap_or_else(|e| panic!("{e}"));
    let plan = built.plan;
    let printed = plan.to_yaml();
    // Printing the plan and loading it again gives the same plan.
    let again = TempDir::new();
    again.write("010-all.yaml", &printed);
    let (_, reloaded) = load(&again.0).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(reloaded.plan.to_yaml(), printed);
    assert_eq!(reloaded.plan.services(), plan.services());
}

// ----- plan output -----

/// The worked example of the spec (layers.md §13), with the CA path pointing
/// at a real file.
#[test]
fn worked_example_prints_as_pebble_does() {
    let dir = TempDir::new();
    let ca = dir.0.join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let ca = ca.display().to_string();
    let base = include_str!("testdata/worked-010-base.yaml").replace("/etc/webd/ca.pem", &ca);
    let dev = include_str!("testdata/worked-020-dev.yaml");
    let expected = include_str!("testdata/worked-plan.yaml").replace("/etc/webd/ca.pem", &ca);
    let layers = TempDir::new();
    layers
        .write("010-base.yaml", &base)
        .write("020-dev.yaml", dev);
    let (_, built) = load(&layers.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(built.plan.to_yaml(), expected);
}

// ----- documentation -----

/// Every ```yaml block of the README and docs/ is a valid layer (or a
/// valid identities seed), so the examples users copy are true.
#[test]
fn every_yaml_block_in_the_docs_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "md") {
            files.push(path);
        }
    }
    let mut blocks = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("```yaml\n") {
            let body = &rest[start + "```yaml\n".len()..];
            let end = body.find("\n```").expect("unterminated yaml block");
            let yaml = &body[..end + 1];
            let line = text[..text.len() - body.len()].lines().count() + 1;
            let source = Source::File(format!("{}:block at line {line}", file.display()));
            // An identities seed (`vigild --identities FILE`) is the other
            // YAML the docs show; it is checked by its own parser.
            if yaml.starts_with("identities:") {
                if let Err(error) = crate::api::identities::parse_seed(yaml) {
                    panic!("{}:block at line {line}: {error}", file.display());
                }
            } else if let Err(error) = Layer::parse(yaml, "docs", "docs", source) {
                panic!("{error}");
            }
            blocks += 1;
            rest = &body[end..];
        }
    }
    assert!(blocks >= 5, "found only {blocks} yaml blocks");
}

// ----- layers added through the API, replayed on replan (D2) -----

fn api_addition(label: &str, text: &str, combine: bool) -> Addition {
    Addition {
        layer: Layer::parse(text, label, label, Source::Api(label.into())).unwrap(),
        combine,
        inner: false,
    }
}

#[test]
fn replan_replays_api_layers_over_edited_files() {
    let dir = TempDir::new();
    dir.write("010-web.yaml", "services:\n  web: {command: v1}\n");
    let additions = [
        api_addition("extra", "services:\n  web: {kill-delay: 3s}\n", false),
        api_addition("web", "services:\n  web: {environment: {A: '1'}}\n", true),
    ];
    // The file is edited, then the replan re-reads it and replays.
    dir.write("010-web.yaml", "services:\n  web: {command: v2}\n");
    let (layers, built) = load_with(&dir.0, &additions).unwrap();
    assert_eq!(
        layers.iter().map(|l| l.label.as_str()).collect::<Vec<_>>(),
        ["web", "extra"]
    );
    let web = &built.plan.services()["web"];
    assert_eq!(web.command.as_deref(), Some("v2"));
    assert_eq!(web.kill_delay, Some(std::time::Duration::from_secs(3)));
    assert_eq!(web.environment["A"], "1");
}

#[test]
fn a_replay_that_no_longer_applies_is_one_more_problem() {
    let dir = TempDir::new();
    // `extra` was added through the API; now a file has that label, and
    // another file has a problem of its own.
    dir.write(
        "010-web.yaml",
        "services:\n  web: {command: web, kill_delay: 1s}\n",
    );
    dir.write("020-extra.yaml", "{}\n");
    let additions = [api_addition(
        "extra",
        "services:\n  x: {command: x}\n",
        false,
    )];
    let error = load_with(&dir.0, &additions).unwrap_err();
    let lines: Vec<String> = error
        .problems
        .iter()
        .map(|p| relative(&dir.0, &p.to_string()))
        .collect();
    assert_eq!(
        lines,
        [
            r#"layers/010-web.yaml:2:23: services.web.kill_delay: unknown key (did you mean "kill-delay"?)"#,
            r#"layer "extra": added through the API, cannot be added again: layer "extra" already exists"#,
        ]
    );
}

#[test]
fn api_layer_problems_are_located_in_its_text() {
    let error = Layer::parse(
        "services:\n  web:\n    command: x\n    kill-delay: 30\n",
        "web",
        "web",
        Source::Api("web".into()),
    )
    .unwrap_err();
    assert_eq!(
        error.render(r#"cannot add layer "web""#, ""),
        "cannot add layer \"web\": 1 problem\n\
         layer \"web\":4:17: services.web.kill-delay: invalid duration 30: \
         a number needs a unit, such as \"30s\" or \"500ms\""
    );
}
