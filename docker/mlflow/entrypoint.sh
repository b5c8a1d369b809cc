#!/bin/sh
# Entrypoint of the MLflow server image: every setting comes from the environment.
#
#   MLFLOW_BACKEND_STORE_URI      tracking + registry store   (default sqlite:////var/lib/mlflow/mlflow.db)
#   MLFLOW_ARTIFACTS_DESTINATION  where served artifacts go, e.g. s3://bucket/prefix
#                                 (default: MLflow's ./mlartifacts under /var/lib/mlflow)
#   MLFLOW_SERVE_ARTIFACTS        true (default) | false. false starts the server with
#                                 --no-serve-artifacts: the seed incident's image. New
#                                 experiments then get MLFLOW_DEFAULT_ARTIFACT_ROOT, or the
#                                 artifacts destination, as their artifact root, and the
#                                 artifact API answers 503.
#   MLFLOW_DEFAULT_ARTIFACT_ROOT  --default-artifact-root (optional)
#   MLFLOW_HOST / MLFLOW_PORT     bind address (default 0.0.0.0:5000)
#   MLFLOW_WORKERS                uvicorn worker processes (default 2)
#   MLFLOW_UVICORN_OPTS           extra uvicorn options (default keeps idle connections 75 s,
#                                 longer than any proxy's pool, and drains for 20 s on stop)
#   MLFLOW_ALLOWED_HOSTS          --allowed-hosts: Host headers the server accepts, e.g. the
#                                 name a reverse proxy forwards (mlflow:5000). Default: MLflow's
#                                 (localhost and private addresses).
#   MLFLOW_CORS_ALLOWED_ORIGINS   --cors-allowed-origins (optional)
#   MLFLOW_STATIC_PREFIX          --static-prefix (read by MLflow itself; optional)
#   MLFLOW_APP_NAME               --app-name, e.g. basic-auth (optional)
#   MLFLOW_DB_WAIT_SECONDS        wait up to this long for a database backend store before
#                                 starting (default 0: MLflow itself retries its first
#                                 connection for about 100 s, while it imports in parallel)
#   MLFLOW_S3_ENDPOINT_URL, AWS_* S3 settings, read by MLflow/boto3 themselves.
#
# Arguments starting with '-' are appended to `mlflow server`; any other command is run as is
# (e.g. `docker run IMAGE mlflow db upgrade ...`).
set -eu

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
    exec "$@"
fi

: "${MLFLOW_HOST:=0.0.0.0}"
: "${MLFLOW_PORT:=5000}"
: "${MLFLOW_WORKERS:=2}"
: "${MLFLOW_BACKEND_STORE_URI:=sqlite:////var/lib/mlflow/mlflow.db}"
: "${MLFLOW_SERVE_ARTIFACTS:=true}"
: "${MLFLOW_UVICORN_OPTS:=--timeout-keep-alive 75 --timeout-graceful-shutdown 20}"
: "${MLFLOW_DB_WAIT_SECONDS:=0}"
export MLFLOW_BACKEND_STORE_URI MLFLOW_DB_WAIT_SECONDS

log() { echo "mlflow-entrypoint: $*" >&2; }

set -- server \
    --host "$MLFLOW_HOST" \
    --port "$MLFLOW_PORT" \
    --workers "$MLFLOW_WORKERS" \
    --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
    --uvicorn-opts "$MLFLOW_UVICORN_OPTS" \
    "$@"

case "$(echo "$MLFLOW_SERVE_ARTIFACTS" | tr '[:upper:]' '[:lower:]')" in
    true | 1 | yes | on)
        set -- "$@" --serve-artifacts
        if [ -n "${MLFLOW_ARTIFACTS_DESTINATION:-}" ]; then
            set -- "$@" --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION"
        fi
        if [ -n "${MLFLOW_DEFAULT_ARTIFACT_ROOT:-}" ]; then
            set -- "$@" --default-artifact-root "$MLFLOW_DEFAULT_ARTIFACT_ROOT"
        fi
        ;;
    false | 0 | no | off)
        log "WARNING: artifact serving is disabled (MLFLOW_SERVE_ARTIFACTS=$MLFLOW_SERVE_ARTIFACTS);" \
            "the artifact API will answer 503"
        set -- "$@" --no-serve-artifacts
        root="${MLFLOW_DEFAULT_ARTIFACT_ROOT:-${MLFLOW_ARTIFACTS_DESTINATION:-}}"
        if [ -n "$root" ]; then
            set -- "$@" --default-artifact-root "$root"
        fi
        ;;
    *)
        log "MLFLOW_SERVE_ARTIFACTS must be true or false, not '$MLFLOW_SERVE_ARTIFACTS'"
        exit 64
        ;;
esac

if [ -n "${MLFLOW_ALLOWED_HOSTS:-}" ]; then
    set -- "$@" --allowed-hosts "$MLFLOW_ALLOWED_HOSTS"
fi
if [ -n "${MLFLOW_CORS_ALLOWED_ORIGINS:-}" ]; then
    set -- "$@" --cors-allowed-origins "$MLFLOW_CORS_ALLOWED_ORIGINS"
fi
if [ -n "${MLFLOW_APP_NAME:-}" ]; then
    set -- "$@" --app-name "$MLFLOW_APP_NAME"
fi

if [ "$MLFLOW_DB_WAIT_SECONDS" != 0 ]; then
    python /usr/local/lib/mlflow-image/wait_for_db.py
fi

# Logged without the passwords of URIs (user:password@host).
log "mlflow $(printf '%s ' "$@" | sed -E 's#(://[^:/@ ]+):[^@ ]+@#\1:***@#g')"
exec mlflow "$@"
