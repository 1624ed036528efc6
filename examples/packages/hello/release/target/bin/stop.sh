#!/bin/sh
# Stops a hello started by run.sh: TERM to the pid in the configured pid_file, then wait up to 10 s.
here=$(cd "$(dirname "$0")" && pwd)
conf="$here/../conf/hello.conf"
pid_file=$(sed -n 's/^pid_file *= *//p' "$conf" | head -n 1)
[ -n "$pid_file" ] && [ -f "$pid_file" ] || exit 0
pid=$(cat "$pid_file")
kill -TERM "$pid" 2>/dev/null || exit 0
i=0
# hello removes its pid file on the way out; a not-yet-reaped (zombie) process has stopped too.
while [ -f "$pid_file" ] && kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -gt 100 ] && { echo "hello (pid $pid) did not stop in 10 s" >&2; exit 1; }
    sleep 0.1
done
exit 0
