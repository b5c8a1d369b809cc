#!/bin/sh
exec pg_isready --quiet --host=127.0.0.1 --username="${POSTGRES_USER:-mlflow}" --dbname="${POSTGRES_DB:-mlflow}"
