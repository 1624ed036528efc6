#!/bin/sh
# Runs the service in the foreground: the supervisor (god, supervisord, systemd) owns the process.
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/hello.py" --config "$here/../conf/hello.conf"
