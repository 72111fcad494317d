"""Static checks of the production-like topology (docker-compose.yml and deploy/).

No Docker engine runs here, so nothing is started: these tests read the files and compare them
with the code (the services in services/, their settings classes) and with ARCHITECTURE.md §5.
"""

from __future__ import annotations

import importlib
import inspect
import ipaddress
import json
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import psycopg
import pytest
import yaml
from fastapi import FastAPI, Request
from psycopg import sql
from sqlalchemy.engine import make_url
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from identity.entrypoints.deps import Client
from identity.settings import IdentitySettings
from registry_platform import migrate
from registry_platform.devstack.postgres import POSTGRES_BIN_PATH
from registry_platform.devstack.stack import SERVICES as DEVSTACK_SERVICES
from registry_platform.migrate import owner_url_variable
from registry_platform.roles import (
    owner_password_variable,
    owner_role,
    password_variable,
    service_role,
    service_roles_sql,
    url_for_owner,
    url_for_service,
)
from registry_platform.settings import DEV_TOKEN_SECRET, ServiceSettings
from web.adapters.backends import Backends
from web.entrypoints.page import Page

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
PROMETHEUS_CONF = ROOT / "deploy" / "prometheus" / "prometheus.yml"
MM2_PROPERTIES = ROOT / "deploy" / "mirrormaker" / "mm2.properties"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
SERVICE_ROLES_SQL = ROOT / "deploy" / "postgres" / "service-roles.sql"

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


def test_env_example_lists_every_required_variable_and_commits_no_value() -> None:
    required = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):?\?", COMPOSE_FILE.read_text()))
    assignments = re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.M)
    listed = {name for name, _ in assignments}
    assert required - listed == set(), "required by docker-compose.yml, missing from env.example"
    assert listed - required == set(), "in env.example, but docker-compose.yml does not read it"
    assert [name for name, value in assignments if value.strip()] == [], "env.example must hold no values"


# ---------------------------------------------------- client addresses behind nginx (A6R-6)


def _uvicorn_forwarded_allow_ips(service: dict[str, Any]) -> str:
    """The hops uvicorn takes X-Forwarded-For from: its --forwarded-allow-ips, else its default."""
    command = service["command"]
    assert isinstance(command, list)
    if "--forwarded-allow-ips" not in command:
        return "127.0.0.1"
    return str(command[command.index("--forwarded-allow-ips") + 1])


def _backend_address(compose: dict[str, Any], name: str) -> str | None:
    networks = compose["services"][name].get("networks", [])
    if not isinstance(networks, dict):
        return None
    return (networks.get("backend") or {}).get("ipv4_address")


def _nginx_forwarded_for() -> str:
    conf = re.sub(r"#[^\n]*", "", NGINX_CONF.read_text())
    values = re.findall(r"proxy_set_header\s+X-Forwarded-For\s+([^;]+);", conf, re.I)
    assert len(values) == 1, f"nginx.conf sets X-Forwarded-For {len(values)} times"
    return str(values[0]).strip()


def _nginx_sends(client_header: str | None, remote_addr: str) -> str:
    """The X-Forwarded-For nginx sends upstream for a client at `remote_addr` that sent `client_header`."""
    directive = _nginx_forwarded_for()
    if directive == "$remote_addr":
        return remote_addr
    assert directive == "$proxy_add_x_forwarded_for", f"unexpected X-Forwarded-For {directive}"
    return f"{client_header}, {remote_addr}" if client_header else remote_addr


def test_a6r6_the_hops_in_front_of_web_and_identity_have_fixed_trusted_addresses(compose: dict[str, Any]) -> None:
    (pool,) = compose["networks"]["backend"]["ipam"]["config"]
    subnet, dynamic = ipaddress.ip_network(pool["subnet"]), ipaddress.ip_network(pool["ip_range"])
    assert dynamic.subnet_of(subnet)
    nginx, web = _backend_address(compose, "nginx"), _backend_address(compose, "web")
    assert nginx and web and nginx != web, "nginx and web need fixed addresses on the backend network"
    for address in (nginx, web):
        # Outside the range Docker assigns from, so no other container can be given it first.
        assert ipaddress.ip_address(address) in subnet and ipaddress.ip_address(address) not in dynamic
    services = compose["services"]
    others = [name for name in services if name not in ("nginx", "web") and _backend_address(compose, name)]
    assert others == [], f"only the trusted hops have fixed addresses: {others}"

    # Exactly the hop(s) in front of each: nginx before the web; nginx and the web before identity.
    assert set(_uvicorn_forwarded_allow_ips(services["web"]).split(",")) == {nginx}
    assert set(_uvicorn_forwarded_allow_ips(services["identity"]).split(",")) == {nginx, web}
    trusted = json.loads(_environment(services["identity"])["REGISTRY_TRUSTED_PROXIES"])
    assert set(trusted) == {nginx, web}
    for name in SERVICES:
        if name not in ("web", "identity"):
            assert _uvicorn_forwarded_allow_ips(services[name]) == "127.0.0.1", name

    # nginx replaces whatever X-Forwarded-For the client sent, in every location (a location with
    # its own proxy_set_header would drop the http block's).
    assert _nginx_forwarded_for() == "$remote_addr"
    conf = re.sub(r"#[^\n]*", "", NGINX_CONF.read_text())
    assert [path for path, body in _nginx_locations(conf).items() if "proxy_set_header" in body] == []


async def test_a6r6_identity_sees_the_browser_through_nginx_and_the_web_and_never_a_spoofed_address(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both chains, nginx → web → identity and nginx → identity, modelled with the real pieces:
    uvicorn's proxy-headers middleware with each service's --forwarded-allow-ips, the web's sign-in
    call to identity (Backends naming the page's client), identity's client_address with the
    compose file's REGISTRY_TRUSTED_PROXIES, and nginx's X-Forwarded-For rule."""
    services = compose["services"]
    nginx, web = _backend_address(compose, "nginx"), _backend_address(compose, "web")
    assert nginx and web
    monkeypatch.setenv("REGISTRY_TRUSTED_PROXIES", _environment(services["identity"])["REGISTRY_TRUSTED_PROXIES"])

    identity_app = FastAPI()
    identity_app.state.runtime = SimpleNamespace(state={"identity": SimpleNamespace(settings=IdentitySettings())})

    @identity_app.get("/client")
    async def throttled_as(client: Client) -> str:
        return client

    identity_server = ProxyHeadersMiddleware(identity_app, _uvicorn_forwarded_allow_ips(services["identity"]))
    to_identity = httpx.AsyncClient(transport=httpx.ASGITransport(identity_server, client=(web, 40000)))
    backends = Backends({"identity": "http://identity"}, to_identity)

    web_app = FastAPI()

    @web_app.get("/sign-in")
    async def sign_in(request: Request) -> Any:
        # As web/entrypoints/sign_in.py calls identity: naming the page's client.
        page = Page(request, cast(Any, None), None, False)
        return await backends.call("identity", "GET", "/client", client_address=page.client_address)

    web_server = ProxyHeadersMiddleware(web_app, _uvicorn_forwarded_allow_ips(services["web"]))

    browser = "198.51.100.7"
    async with to_identity:
        for sent in (None, "203.0.113.66", f"203.0.113.66, {web}", nginx):
            headers = {"x-forwarded-for": _nginx_sends(sent, browser)}
            for app, path in ((web_server, "/sign-in"), (identity_server, "/client")):
                transport = httpx.ASGITransport(app, client=(nginx, 50000))
                async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                    answer = await client.get(path, headers=headers)
                assert answer.status_code == 200, answer.text
                assert answer.json() == browser, f"{path} with X-Forwarded-For {sent!r} from the client"


# ------------------------------------------------------ per-service database roles (A6R-25)

DATABASE_URL = re.compile(r"^postgresql\+psycopg://(?P<user>[^:@/]+):(?P<password>.+)@(?P<host>[^:/@]+):\d+/\w+$")


def _schema(service: str) -> str:
    return ServiceSettings(mode="test", service_name=service).db_schema


def test_a6r25_each_service_connects_as_its_own_role_created_at_the_primarys_first_start(
    compose: dict[str, Any],
) -> None:
    assert {s.name for s in DEVSTACK_SERVICES} == set(SERVICES)
    primary = compose["services"]["postgres-primary"]
    primary_env = _environment(primary)
    for service in SERVICES:
        schema = _schema(service)
        match = DATABASE_URL.match(_environment(compose["services"][service])["REGISTRY_DATABASE_URL"])
        assert match, service
        assert match["user"] == service_role(schema) != primary_env["POSTGRES_USER"], service
        # The password the service sends is the one the primary's script sets for its role.
        assert REQUIRED_VARIABLE.match(match["password"]), service
        assert match["password"].startswith(f"${{{password_variable(schema)}:"), service
        assert primary_env.get(password_variable(schema)) == match["password"], service

    # The migrate job alone holds each schema owner's credentials, and every service waits for it.
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["python", "-m", "registry_platform.migrate"]
    migrate_env = _environment(migrate)
    for service in SERVICES:
        schema = _schema(service)
        owner = DATABASE_URL.match(migrate_env[owner_url_variable(schema)])
        assert owner, service
        assert owner["user"] == owner_role(schema), service
        assert owner["password"].startswith(f"${{{owner_password_variable(schema)}:"), service
        assert primary_env.get(owner_password_variable(schema)) == owner["password"], service
        svc = compose["services"][service]
        assert svc["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, service
        assert not any("OWNER" in name for name in _environment(svc)), f"{service} holds an owner's credentials"

    script = f"./{SERVICE_ROLES_SQL.relative_to(ROOT)}:"
    mounts = [v for v in primary["volumes"] if isinstance(v, str) and v.startswith(script)]
    assert len(mounts) == 1
    assert re.match(r"^/docker-entrypoint-initdb\.d/[\w-]+\.sql$", mounts[0].split(":")[1])
    # The script is generated from registry_platform.roles, the roles `make up` and the tests use.
    expected = service_roles_sql(s.module for s in DEVSTACK_SERVICES)
    assert SERVICE_ROLES_SQL.read_text() == expected, "regenerate: python -m registry_platform.roles"


def _psql(database_url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """deploy/postgres/service-roles.sql run as the postgres image runs an init script."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    base = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_DB_PASSWORD_")}
    return subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(SERVICE_ROLES_SQL), dsn],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.integration
def test_a6r25_the_deployments_roles_keep_every_service_out_of_the_others_schemas(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    schemas = [_schema(s) for s in SERVICES]
    passwords = {password_variable(schema): f"pw-{schema}-0123456789abcdef" for schema in schemas} | {
        owner_password_variable(schema): f"pw-{schema}-owner-0123456789" for schema in schemas
    }

    missing = _psql(database_url, {k: v for k, v in passwords.items() if k != password_variable(schemas[0])})
    assert missing.returncode != 0
    assert f"set {password_variable(schemas[0])}" in missing.stderr

    # Twice: the script creates what is missing and may run again (to change passwords).
    for _ in range(2):
        ran = _psql(database_url, passwords)
        assert ran.returncode == 0, ran.stderr

    roles = [role(schema) for schema in schemas for role in (service_role, owner_role)]
    with psycopg.connect(_plain(database_url)) as admin:
        owners = admin.execute(
            "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = ANY(%s)", (schemas,)
        ).fetchall()
        assert dict(owners) == {schema: owner_role(schema) for schema in schemas}
        stored = admin.execute(
            "SELECT rolname, rolpassword, rolcanlogin, rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls"
            " FROM pg_authid WHERE rolname = ANY(%s)",
            (roles,),
        ).fetchall()
        assert {row[0] for row in stored} == set(roles)
        for role, password, can_login, privileged in stored:
            assert password.startswith("SCRAM-SHA-256$") and can_login and not privileged, role

    # The migrate job: every service's own migrations run as its schema's owner, in the schema
    # made for it, and the service's role is granted its rows.
    for schema in schemas:
        monkeypatch.setenv(owner_url_variable(schema), url_for_owner(database_url, schema))
    migrate.main([])

    for schema in schemas:
        with psycopg.connect(_plain(url_for_service(database_url, schema)), autocommit=True) as conn:
            conn.execute(sql.SQL("SELECT * FROM {}.alembic_version").format(sql.Identifier(schema)))
            # Its rows, but not its tables: it cannot alter one (a trigger) nor make one.
            for statement in (
                "ALTER TABLE {}.alembic_version DISABLE TRIGGER ALL",
                "DROP TABLE {}.alembic_version",
                "CREATE TABLE {}.intruder (n int)",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql.SQL(statement).format(sql.Identifier(schema)))
            for other in schemas:
                if other == schema:
                    continue
                for statement in (
                    "SELECT * FROM {}.alembic_version",
                    "UPDATE {}.alembic_version SET version_num = version_num",
                    "CREATE TABLE {}.intruder (n int)",
                    "DROP SCHEMA {} CASCADE",
                ):
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        conn.execute(sql.SQL(statement).format(sql.Identifier(other)))


# ------------------------------------------------ identity's public addresses (A6R-4, A6R-7, A6R-8)

PUBLIC_HOST = re.compile(r"\$\{REGISTRY_PUBLIC_HOST:?\?[^}]*\}")


def test_a6r4_a6r7_identitys_public_addresses_derive_from_the_gateways_name(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _environment(compose["services"]["identity"])
    host = "registry.example.org"
    public = ("REGISTRY_PUBLIC_URL", "REGISTRY_ACTIVATION_URL", "REGISTRY_WEBAUTHN_RP_ID", "REGISTRY_WEBAUTHN_ORIGINS")
    for variable in public:
        assert PUBLIC_HOST.search(env.get(variable, "")), f"{variable} is not derived from REGISTRY_PUBLIC_HOST"
        monkeypatch.setenv(variable, PUBLIC_HOST.sub(host, env[variable]))
    # Identity in production accepts what compose gives it.
    settings = IdentitySettings(mode="production", token_secret="x" * 40, signing_seed="s" * 40, sealing_seed="t" * 40)
    assert settings.webauthn_rp_id == host
    assert settings.webauthn_origins == [f"https://{host}"]
    # External systems reach identity through the gateway's /api/identity/; people activate on the web.
    assert settings.public_url == f"https://{host}/api/identity"
    assert settings.activation_url == f"https://{host}/activate"
    conf = re.sub(r"#[^\n]*", "", NGINX_CONF.read_text())
    assert "proxy_pass http://identity/" in _nginx_locations(conf)["/api/identity/"]
    to_web = re.findall(r"location\s+~\s+(\S+)\s*\{[^{}]*proxy_pass\s+http://web;", conf)
    assert any(re.match(pattern, "/activate") for pattern in to_web), "nginx does not route /activate to the web"
