"""Static checks of the production-like topology (docker-compose.yml and deploy/).

No Docker engine runs here, so nothing is started: these tests read the files and compare them
with the code (the services in services/, their settings classes) and with ARCHITECTURE.md §5.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from registry_platform.settings import DEV_TOKEN_SECRET, ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
PROMETHEUS_CONF = ROOT / "deploy" / "prometheus" / "prometheus.yml"
MM2_PROPERTIES = ROOT / "deploy" / "mirrormaker" / "mm2.properties"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"

# A value compose must be given from outside, e.g. "${REGISTRY_TOKEN_SECRET:?message}":
# no literal, no default, compose refuses to start when it is unset.
REQUIRED_VARIABLE = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:?\?[^}]*\}$")


class _StrictLoader(yaml.SafeLoader):
    """Refuses a key written twice in one mapping (compose does too; PyYAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _service_dirs() -> list[Path]:
    """Every service of the repository: a folder of services/ with a package holding bootstrap.py."""
    dirs = [d for d in sorted((ROOT / "services").iterdir()) if (d / "pyproject.toml").is_file()]
    assert dirs, "no services found under services/"
    return dirs


def _module(service_dir: Path) -> str:
    module = service_dir.name.replace("-", "_")
    assert (service_dir / module / "bootstrap.py").is_file(), f"{service_dir.name}: no {module}/bootstrap.py"
    return module


SERVICES = [d.name for d in _service_dirs()]
MODULES = {d.name: _module(d) for d in _service_dirs()}


def _settings_class(service: str) -> type[ServiceSettings]:
    """The service's own ServiceSettings subclass from <module>.settings, else ServiceSettings."""
    try:
        settings_module = importlib.import_module(f"{MODULES[service]}.settings")
    except ModuleNotFoundError as exc:
        if exc.name != f"{MODULES[service]}.settings":
            raise
        return ServiceSettings
    own = [
        cls
        for _, cls in inspect.getmembers(settings_module, inspect.isclass)
        if issubclass(cls, ServiceSettings)
        and cls is not ServiceSettings
        and cls.__module__ == settings_module.__name__
    ]
    assert len(own) <= 1, f"{service}: several settings classes in {settings_module.__name__}: {own}"
    return own[0] if own else ServiceSettings


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "KEY=VALUE" list form
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.load(COMPOSE_FILE.read_text(), Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc


@pytest.fixture(scope="module")
def kafka_brokers(compose: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        name: _environment(svc)
        for name, svc in compose["services"].items()
        if str(svc.get("image", "")).startswith("apache/kafka")
        and "broker" in _environment(svc).get("KAFKA_PROCESS_ROLES", "").split(",")
    }


def test_the_service_list_comes_from_the_repository() -> None:
    # The eight services of ARCHITECTURE.md §2; guards the discovery the other tests rely on.
    assert len(SERVICES) >= 8
    expected = {"identity", "ledger", "rules", "descriptors", "interop-gateway", "crm", "reporting", "web"}
    assert expected <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_compose_runs_every_service(compose: dict[str, Any], service: str) -> None:
    assert service in compose["services"], f"docker-compose.yml does not run {service}"
    svc = compose["services"][service]
    command = svc.get("command")
    command = " ".join(command) if isinstance(command, list) else str(command)
    assert f"{MODULES[service]}.bootstrap:create_app" in command
    assert "--factory" in command
    # Uvicorn's access log bypasses the JSON logs' redaction and keeps query strings (activation tokens).
    assert "--no-access-log" in command
    healthcheck = json.dumps(svc.get("healthcheck", {}).get("test"))
    assert "/ready" in healthcheck, f"{service}: no healthcheck on /ready"


@pytest.mark.parametrize("service", SERVICES)
def test_every_registry_variable_is_a_settings_field(compose: dict[str, Any], service: str) -> None:
    settings_cls = _settings_class(service)
    env = _environment(compose["services"].get(service, {}))
    registry_vars = [k for k in env if k.startswith("REGISTRY_")]
    assert registry_vars, f"{service}: no REGISTRY_* settings"
    fields = settings_cls.model_fields
    unknown = [k for k in registry_vars if k.removeprefix("REGISTRY_").lower() not in fields]
    assert not unknown, f"{service}: {unknown} are not fields of {settings_cls.__qualname__}"
    # The code sets the service name itself; a value here would only mislead.
    assert "REGISTRY_SERVICE_NAME" not in env


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_configured_for_production(
    compose: dict[str, Any], kafka_brokers: dict[str, dict[str, str]], service: str
) -> None:
    env = _environment(compose["services"].get(service, {}))
    assert env.get("REGISTRY_MODE") == "production"

    url = env.get("REGISTRY_DATABASE_URL", "")
    match = re.match(r"^postgresql\+psycopg://(?P<user>[^:@/]+):(?P<password>.+)@(?P<host>[^:/@]+):\d+/\w+$", url)
    assert match, f"{service}: REGISTRY_DATABASE_URL {url!r} is not a postgresql+psycopg URL with credentials"
    assert match["host"] in compose["services"], f"{service}: database host {match['host']} is not in compose"
    assert str(compose["services"][match["host"]].get("image", "")).startswith("postgres:18")
    assert REQUIRED_VARIABLE.match(match["password"]), f"{service}: database password must come from outside"

    bootstrap = {h.strip() for h in env.get("REGISTRY_KAFKA_BOOTSTRAP", "").split(",") if h.strip()}
    assert {h.split(":")[0] for h in bootstrap} == set(kafka_brokers), f"{service}: bootstrap {bootstrap}"

    secret = env.get("REGISTRY_TOKEN_SECRET", "")
    assert secret != DEV_TOKEN_SECRET
    assert REQUIRED_VARIABLE.match(secret), f"{service}: REGISTRY_TOKEN_SECRET must be a required variable"

    assert env.get("REGISTRY_OTEL_EXPORTER_OTLP_ENDPOINT", "").startswith("http://otel-collector:")
    assert "otel-collector" in compose["services"]


def test_a6r54_only_the_gateway_holds_its_own_key_and_the_ledger_knows_it(compose: dict[str, Any]) -> None:
    envs = {name: _environment(compose["services"][name]) for name in SERVICES}
    holders = [name for name, env in envs.items() if "REGISTRY_SERVICE_SECRET" in env]
    assert holders == ["interop-gateway"], holders
    assert REQUIRED_VARIABLE.match(envs["interop-gateway"]["REGISTRY_SERVICE_SECRET"])
    keys = envs["ledger"].get("REGISTRY_SERVICE_KEYS", "")
    placeholder = re.search(r"\$\{[^}]*\}", keys)
    assert placeholder and REQUIRED_VARIABLE.match(placeholder.group(0)), keys
    assert list(json.loads(keys.replace(placeholder.group(0), "x"))) == ["interop-gateway"]


def test_web_reads_reporting_through_the_network(compose: dict[str, Any]) -> None:
    env = _environment(compose["services"]["web"])
    assert re.match(r"^http://reporting:\d+$", env.get("REGISTRY_REPORTING_URL", ""))


def test_kafka_is_three_kraft_brokers_with_safe_replication(
    compose: dict[str, Any], kafka_brokers: dict[str, dict[str, str]]
) -> None:
    assert len(kafka_brokers) == 3, f"expected 3 Kafka brokers, found {sorted(kafka_brokers)}"
    node_ids = {env["KAFKA_NODE_ID"] for env in kafka_brokers.values()}
    assert len(node_ids) == 3
    assert len({env["CLUSTER_ID"] for env in kafka_brokers.values()}) == 1
    for name, env in kafka_brokers.items():
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3", name
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2", name
        assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false", name
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", name
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", name
        assert f"PLAINTEXT://{name}:9092" in env["KAFKA_ADVERTISED_LISTENERS"], name
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert len(voters) == 3, name
        assert {v.split("@")[0] for v in voters} == node_ids, name
        assert {v.split("@")[1].split(":")[0] for v in voters} <= set(kafka_brokers), name


def test_postgres_has_a_synchronous_standby(compose: dict[str, Any]) -> None:
    services = compose["services"]
    primary, standby = services["postgres-primary"], services["postgres-standby"]
    assert primary["image"] == standby["image"] == "postgres:18"
    assert "synchronous_commit=on" in primary["command"]
    init = (ROOT / "deploy" / "postgres" / "primary-init.sh").read_text()
    assert "synchronous_standby_names = 'FIRST 1 (standby1)'" in init
    standby_script = (ROOT / "deploy" / "postgres" / "standby-entrypoint.sh").read_text()
    assert "pg_basebackup" in standby_script and "application_name=$STANDBY_NAME" in standby_script
    assert "STANDBY_NAME=standby1" in standby_script


def _nginx_locations(conf: str) -> dict[str, str]:
    """location path -> its body; nginx.conf keeps location blocks flat (no nested braces)."""
    pattern = r"location\s+(?P<path>[^\s{]+)\s*\{(?P<body>[^{}]*)\}"
    return {m["path"]: m["body"] for m in re.finditer(pattern, conf)}


def test_nginx_routes_every_service(compose: dict[str, Any]) -> None:
    conf = re.sub(r"#[^\n]*", "", NGINX_CONF.read_text())
    upstreams = {
        m["name"]: m["host"]
        for m in re.finditer(r"upstream\s+(?P<name>[\w.-]+)\s*\{[^}]*?server\s+(?P<host>[\w.-]+):\d+", conf)
    }
    locations = _nginx_locations(conf)

    def target(path: str) -> str:
        assert path in locations, f"nginx.conf has no location {path}"
        proxy = re.search(r"proxy_pass\s+http://(?P<upstream>[\w.-]+)", locations[path])
        assert proxy, f"location {path} does not proxy"
        upstream = proxy["upstream"]
        return upstreams.get(upstream, upstream)

    for service in SERVICES:
        assert target(f"/api/{service}/") == service
        assert service in compose["services"]["nginx"].get("depends_on", {})
    assert target("/") == "web"
    for directive in ("client_max_body_size", "limit_req_zone", "ssl_certificate ", "X-Content-Type-Options"):
        assert directive in conf


def test_every_service_is_scraped_by_prometheus() -> None:
    doc = yaml.safe_load(PROMETHEUS_CONF.read_text())
    targets = {
        target.split(":")[0]
        for job in doc["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
        for group in job.get("static_configs", [])
        for target in group["targets"]
    }
    assert set(SERVICES) <= targets


def test_grafana_dashboard_shows_the_platform_metrics() -> None:
    dashboards = [json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))]
    assert dashboards
    exprs = " ".join(t["expr"] for d in dashboards for panel in d["panels"] for t in panel.get("targets", []))
    for metric in (
        "registry_http_request_seconds",
        "registry_outbox_published_total",
        "registry_inbox_processed_total",
        "registry_dead_lettered_total",
    ):
        assert metric in exprs, f"no dashboard panel uses {metric}"


def test_mirrormaker_copies_the_journal_topic_off_site(compose: dict[str, Any]) -> None:
    props = MM2_PROPERTIES.read_text()
    assert re.search(r"^primary->offsite\.enabled\s*=\s*true$", props, re.M)
    assert re.search(r"^primary->offsite\.topics\s*=.*journal", props, re.M)
    mm = compose["services"]["mirrormaker"]
    assert REQUIRED_VARIABLE.match(_environment(mm)["MM2_OFFSITE_BOOTSTRAP"])


def _mount_sources(compose: dict[str, Any]) -> list[tuple[str, str]]:
    """(service, host path) of every bind mount, Dockerfile and build context the compose file names."""
    named_volumes = set(compose.get("volumes") or {})
    sources: list[tuple[str, str]] = []
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            if isinstance(volume, dict):
                if volume.get("type") == "bind":
                    sources.append((name, volume["source"]))
                continue
            source = volume.split(":", 1)[0]
            if ":" in volume and source not in named_volumes:
                sources.append((name, source))
        build = svc.get("build")
        if isinstance(build, str):
            sources.append((name, build))
        elif isinstance(build, dict):
            context = build.get("context", ".")
            sources.append((name, context))
            sources.append((name, str(Path(context) / build.get("dockerfile", "Dockerfile"))))
        env_files = svc.get("env_file", [])
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            sources.append((name, env_file if isinstance(env_file, str) else env_file["path"]))
    for section in ("configs", "secrets"):
        for name, item in (compose.get(section) or {}).items():
            if "file" in item:
                sources.append((name, item["file"]))
    return sources


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    sources = _mount_sources(compose)
    assert sources, "the compose file mounts nothing"
    missing = [(svc, src) for svc, src in sources if not (ROOT / src).exists()]
    assert not missing, f"mounted from the repository but missing: {missing}"
    outside = [(svc, src) for svc, src in sources if not (ROOT / src).resolve().is_relative_to(ROOT)]
    assert not outside, f"mounts from outside the repository: {outside}"


def test_no_log_keeps_a_query_string() -> None:
    """Activation links carry their token in the query string: neither the gateway's access log nor
    the services' (the image's command) may keep it."""
    conf = NGINX_CONF.read_text()
    log_format = conf[conf.index("log_format main") : conf.index(";", conf.index("log_format main"))]
    assert "$request " not in log_format and '$request"' not in log_format and "$args" not in log_format
    assert "$uri" in log_format
    assert "--no-access-log" in (ROOT / "deploy" / "Dockerfile").read_text()
