# Shared set-up for scripts/demo, scripts/test and scripts/bench. Every step checks before
# it acts, so running a script twice is safe. Source it; do not run it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Builds are shared across clones (CI runs in a fresh clone on the same machine).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/berth-target}
BERTH_BIN="$CARGO_TARGET_DIR/debug/berth"

say() {
  if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then printf '\033[1m==> %s\033[0m\n' "$*" >&2; else printf '==> %s\n' "$*" >&2; fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root for: $*" >&2; return 1
  fi
}

# apt_install PKG...: installs the Debian packages that are not installed yet.
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_docker: a Docker engine answers on the default socket (installs and starts one).
ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  command -v dockerd >/dev/null || apt_install docker.io
  say "starting dockerd"
  if [ -d /run/systemd/system ]; then
    as_root systemctl start docker
  else
    as_root sh -c 'nohup dockerd >/var/log/berth-dockerd.log 2>&1 &'
  fi
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "dockerd did not come up; see /var/log/berth-dockerd.log" >&2
  return 1
}

# ensure_chromium: Debian's headless-capable Chromium (and its WebDriver) at /usr/bin/chromium,
# for the browser tests (scripts/test-ui drives it with playwright-core, which fetches no browser).
ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium chromium-driver
}

# ensure_postgres: PostgreSQL (Debian's) answers on 127.0.0.1:5432 with a `berth` role and
# database; exports BERTH_TEST_PG for the store tests. Password auth over TCP only.
PG_URL="postgres://berth:berth@127.0.0.1:5432/berth"
ensure_postgres() {
  apt_install postgresql
  local cluster
  cluster=$(pg_lsclusters -h | awk '{print $1" "$2}' | head -1)
  if ! pg_lsclusters -h | grep -q online; then
    say "starting PostgreSQL ($cluster)"
    # shellcheck disable=SC2086
    as_root pg_ctlcluster $cluster start
  fi
  local i
  for i in $(seq 1 60); do
    as_root su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
    sleep 0.5
  done
  as_root su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname='berth'\"" | grep -q 1 ||
    as_root su postgres -c "psql -qc \"create role berth login password 'berth' createdb\""
  as_root su postgres -c "psql -qAtc \"select 1 from pg_database where datname='berth'\"" | grep -q 1 ||
    as_root su postgres -c "createdb -O berth berth"
  export BERTH_TEST_PG=$PG_URL
}

# ensure_image TAG DIR: builds DIR (plus a static busybox) as TAG unless TAG exists.
ensure_image() {
  local tag=$1 dir=$2 ctx
  docker image inspect "$tag" >/dev/null 2>&1 && return 0
  apt_install busybox-static
  say "building image $tag"
  ctx=$(mktemp -d)
  cp -r "$ROOT/$dir/." "$ctx/"
  cp /bin/busybox "$ctx/busybox"
  DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null 2> >(grep -v -e DEPRECATED -e BuildKit -e 'environment-variable' -e '^\s*$' >&2)
  rm -rf "$ctx"
}

ensure_test_images() {
  ensure_image berth-test/busybox:latest testdata/images/busybox
}

build_berth() {
  say "building berth"
  (cd "$ROOT" && cargo build -q -p berth)
}

# A local registry with htpasswd auth on 127.0.0.1 (the engine trusts 127.0.0.0/8 over
# plain HTTP), holding the test image, for pull and registry-auth tests.
REGISTRY=127.0.0.1:5858
REGISTRY_USER=berth
REGISTRY_PASSWORD=berth-test-password
REGISTRY_DIR=/var/tmp/berth-registry

ensure_registry() {
  apt_install docker-registry apache2-utils curl
  mkdir -p "$REGISTRY_DIR/data"
  [ -f "$REGISTRY_DIR/htpasswd" ] || htpasswd -Bbc "$REGISTRY_DIR/htpasswd" "$REGISTRY_USER" "$REGISTRY_PASSWORD" 2>/dev/null
  cat > "$REGISTRY_DIR/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $REGISTRY_DIR/data}}
http: {addr: $REGISTRY}
auth: {htpasswd: {realm: berth-test, path: $REGISTRY_DIR/htpasswd}}
YAML
  if ! curl -s -o /dev/null "http://$REGISTRY/v2/"; then
    say "starting a local registry on $REGISTRY"
    nohup docker-registry serve "$REGISTRY_DIR/config.yml" >"$REGISTRY_DIR/registry.log" 2>&1 &
    local i
    for i in $(seq 1 40); do curl -s -o /dev/null "http://$REGISTRY/v2/" && break; sleep 0.25; done
  fi
  local image="$REGISTRY/berth-test/busybox:latest" cfg
  if ! curl -sf -u "$REGISTRY_USER:$REGISTRY_PASSWORD" "http://$REGISTRY/v2/berth-test/busybox/manifests/latest" \
      -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -o /dev/null; then
    say "pushing the test image to $REGISTRY"
    cfg=$(mktemp -d)
    docker tag berth-test/busybox:latest "$image"
    echo "$REGISTRY_PASSWORD" | DOCKER_CONFIG=$cfg docker login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" >/dev/null
    DOCKER_CONFIG=$cfg docker push -q "$image" >/dev/null
    rm -rf "$cfg"
  fi
}

# schemathesis (PyPI) in its own virtualenv, pinned, for the API fuzz stage.
SCHEMATHESIS_VERSION=4.32.5
VENV=/var/tmp/berth-venv
ensure_schemathesis() {
  if "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then return 0; fi
  say "installing schemathesis $SCHEMATHESIS_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}

# openapi-spec-validator checks /v1/openapi.json against the OpenAPI 3.1 schema, in the
# schemathesis venv; promtool (Debian's prometheus package) lints /metrics.
OPENAPI_VALIDATOR_VERSION=0.9.0
ensure_standard_checks() {
  ensure_schemathesis
  if ! "$VENV/bin/pip" show openapi-spec-validator 2>/dev/null | grep -qx "Version: $OPENAPI_VALIDATOR_VERSION"; then
    say "installing openapi-spec-validator $OPENAPI_VALIDATOR_VERSION"
    "$VENV/bin/pip" install -q --disable-pip-version-check "openapi-spec-validator==$OPENAPI_VALIDATOR_VERSION"
  fi
  command -v promtool >/dev/null || apt_install prometheus
}

# kubernetes-validate checks manifests offline against the Kubernetes schemas (no cluster
# can run on these machines).
KUBERNETES_VALIDATE_VERSION=1.37.0
ensure_kubernetes_validate() {
  if "$VENV/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$KUBERNETES_VALIDATE_VERSION"; then return 0; fi
  say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
}

# Terraform's static checks, in a venv of their own (checkov pins many packages).
TF_VENV=/var/tmp/berth-venv-tf
CHECKOV_VERSION=3.3.30
PYTHON_HCL2_VERSION=8.1.4
ensure_terraform_checks() {
  if "$TF_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION" \
     && "$TF_VENV/bin/python" -c 'import hcl2' 2>/dev/null; then return 0; fi
  say "installing checkov $CHECKOV_VERSION and python-hcl2 $PYTHON_HCL2_VERSION"
  python3 -m venv "$TF_VENV"
  "$TF_VENV/bin/pip" install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION" "python-hcl2==$PYTHON_HCL2_VERSION"
}

# start_server DATA_DIR ARGS...: starts `berth server` on a free port in the background;
# sets SERVER_URL and SERVER_PID. The caller stops it with stop_server.
start_server() {
  local data=$1 log; shift
  log="$data/server.log"
  mkdir -p "$data"
  BERTH_DATA_DIR=$data "$BERTH_BIN" server --listen 127.0.0.1:0 "$@" 2>"$log" &
  SERVER_PID=$!
  local i
  for i in $(seq 1 100); do
    SERVER_URL=$(grep -o 'http://[0-9.:]*' "$log" | head -1 || true)
    [ -n "$SERVER_URL" ] && return 0
    sleep 0.1
  done
  echo "berth server did not start:" >&2; cat "$log" >&2; return 1
}

stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}
