#!/bin/sh
# moto's S3 server on 0.0.0.0:$S3_PORT; extra arguments go to moto.server.
set -eu
exec python -m moto.server -H 0.0.0.0 -p "${S3_PORT:-9000}" "$@"
