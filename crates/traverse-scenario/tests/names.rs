//! Names are the one piece of a file that travels furthest: into file
//! names under `--logs`, matrix rows, terminals and HTML pages. Hostile
//! scenario names are in the corpus (`tests/invalid/name-*.toml`); here are
//! the tunnel definitions' names, names taken from a file's name, and the
//! names that must keep working.

use std::path::Path;

use traverse_scenario::{NAME_RULE, check, check_tunnel, name_problem};

/// A tunnel definition naming its tunnel `name`, on line 2.
fn tunnel_file(name: &str) -> String {
    format!(
        "# a port-forward tunnel\nname = \"{name}\"\ntransport = \"plain\"\n\
         server = [\"socat\", \"TCP-LISTEN:{{listen_port}}\", \"TCP:{{target}}\"]\n\
         client = [\"socat\", \"TCP-LISTEN:{{local_port}}\", \"TCP:{{connect}}\"]\n"
    )
}

/// The errors of `source` read as the tunnel file `path`, as printed.
fn tunnel_errors(path: &str, source: &str) -> Vec<String> {
    match check_tunnel(Path::new(path), source) {
        Ok(definition) => vec![format!("loaded as {:?}", definition.name)],
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn hostile_tunnel_names_are_refused_at_the_name_with_the_rule() {
    // (as written in TOML, as the error quotes it, why)
    let cases = [
        (
            "../../escaped-x",
            r#""../../escaped-x""#,
            "contains a path separator",
        ),
        ("../x", r#""../x""#, "contains a path separator"),
        ("/abs", r#""/abs""#, "contains a path separator"),
        (".", r#"".""#, "starts with `.`"),
        ("..", r#""..""#, "starts with `.`"),
        ("-x", r#""-x""#, "starts with `-`"),
        (
            r"red\u001b[31m",
            r#""red\u{1b}[31m""#,
            "contains a control character",
        ),
        (
            r"two\nlines",
            r#""two\nlines""#,
            "contains a control character",
        ),
        (r"nul\u0000", r#""nul\0""#, "contains a control character"),
        ("<script>", r#""<script>""#, "contains '<'"),
        ("two words", r#""two words""#, "contains ' '"),
        ("", r#""""#, "is empty"),
    ];
    let mut wrong = Vec::new();
    for (written, quoted, why) in cases {
        let expected = vec![format!(
            "x.toml:2:8: tunnel `name` {quoted} {why}; {NAME_RULE}"
        )];
        let actual = tunnel_errors("x.toml", &tunnel_file(written));
        if actual != expected {
            wrong.push(format!(
                "{written:?}:\n  expected {expected:?}\n  actual   {actual:?}"
            ));
        }
    }
    let long = "a".repeat(200);
    let actual = tunnel_errors("x.toml", &tunnel_file(&long));
    let expected = format!(
        "x.toml:2:8: tunnel `name` \"{}…\" is 200 characters long; {NAME_RULE}",
        "a".repeat(24)
    );
    if actual != [expected.clone()] {
        wrong.push(format!(
            "200 a's:\n  expected {expected:?}\n  actual   {actual:?}"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_error_prints_a_control_character_from_a_name() {
    for written in [r"\u001b]0;owned\u0007", r"a\rb", r"\u009b31m"] {
        for errors in [
            tunnel_errors("x.toml", &tunnel_file(written)),
            match check(Path::new("x.toml"), &format!("name = \"{written}\"\n")) {
                Ok(_) => vec!["loaded".to_string()],
                Err(errors) => errors.iter().map(ToString::to_string).collect(),
            },
        ] {
            assert_eq!(errors.len(), 1, "{written}: {errors:?}");
            assert!(
                !errors[0].contains(char::is_control),
                "{written}: {:?}",
                errors[0]
            );
        }
    }
}

#[test]
fn a_name_from_the_file_name_is_held_to_the_same_rule_and_says_so() {
    let tunnel_without_name = tunnel_file("x").replace("name = \"x\"\n", "");
    let tunnel = tunnel_errors("defs/.hidden.toml", &tunnel_without_name);
    assert_eq!(
        tunnel,
        [format!(
            "defs/.hidden.toml:1:1: the file's name gives the tunnel its name, and the name \
             \".hidden\" starts with `.`; {NAME_RULE}; rename the file or set `name = \"...\"`"
        )]
    );
    let scenario: Vec<String> = check(Path::new("corp/my topology.toml"), "")
        .expect_err("a scenario named by a file name with a space")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        scenario,
        [format!(
            "corp/my topology.toml:1:1: the file's name gives the scenario its name, and the \
             name \"my topology\" contains ' '; {NAME_RULE}; rename the file or set `name = \"...\"`"
        )]
    );
    // A `name` written in the file wins over a file name that breaks the rule.
    check(
        Path::new("corp/my topology.toml"),
        "name = \"corp-topology\"\n",
    )
    .expect("a valid written name");
}

#[test]
fn names_people_use_are_allowed() {
    for name in [
        "corp-f5",
        "ws+ping=30s",
        "aws_alb.idle",
        "0rtt",
        "F5",
        "a..b",
        &"n".repeat(64),
    ] {
        assert_eq!(name_problem(name), None, "{name}");
        check(Path::new("x.toml"), &format!("name = \"{name}\"\n"))
            .unwrap_or_else(|errors| panic!("scenario {name}: {errors:?}"));
        check_tunnel(Path::new("x.toml"), &tunnel_file(name))
            .unwrap_or_else(|errors| panic!("tunnel {name}: {errors:?}"));
    }
    assert!(name_problem(&"n".repeat(65)).is_some());
}

#[test]
fn every_bundled_scenario_and_tunnel_name_keeps_to_the_rule() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut seen = 0;
    for (folder, tunnel) in [("scenarios", false), ("tunnels", true)] {
        let files = traverse_scenario::discover(&[root.join(folder)]).expect(folder);
        for path in files {
            let name = if tunnel {
                traverse_scenario::load_tunnel(&path).map(|definition| definition.name)
            } else {
                traverse_scenario::load(&path).map(|scenario| scenario.name)
            }
            .unwrap_or_else(|error| panic!("{error}"));
            assert_eq!(name_problem(&name), None, "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 20, "only {seen} bundled files were found");
}
