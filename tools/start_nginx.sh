#!/usr/bin/env bash
# Starts a throw-away WebDAV nginx for the remote-cache tests and prints its URL (http://127.0.0.1:PORT).
#
#   tools/start_nginx.sh DIR     everything lives in DIR: nginx.conf, nginx.pid, logs/, tmp/, data/
#   tools/stop_nginx.sh DIR      stops it by the pid in DIR/nginx.pid
#
# Blobs PUT to URL/ac/KEY and URL/cas/DIGEST land in DIR/data/ac/KEY and DIR/data/cas/DIGEST.
# DIR/logs/access.log has one line per request: method, URI, status, then the Authorization header
# in quotes (what the tests check a bearer token arrives through). Fixed answers for the tests'
# error paths: URL/private/... 401, URL/unavailable/... 503, and URL/echo/... 403 with a text/plain
# body quoting the request's Authorization header (a server that leaks credentials into a message).
#
# nginx (Debian `nginx`) is installed with apt-get when missing. Only the core ngx_http_dav_module
# (PUT, DELETE) is used, so no dynamic module is loaded and nothing under /etc/nginx is read.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
dir=$(cd "$1" && pwd)

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    # policy-rc.d exit 101 keeps the package's service from starting; restored afterwards.
    policy=/usr/sbin/policy-rc.d
    added_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
        added_policy=1
    fi
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nginx; } >&2 || install_failed=1
    [ -z "$added_policy" ] || $sudo rm -f "$policy"
    [ -z "${install_failed:-}" ] || { echo "$0: cannot install nginx with apt-get" >&2; exit 1; }
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

if [ -f "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
    echo "$0: an nginx is already running from $dir (pid $(cat "$dir/nginx.pid")); stop it with tools/stop_nginx.sh" >&2
    exit 1
fi

mkdir -p "$dir/logs" "$dir/tmp" "$dir/data/ac" "$dir/data/cas"

# Run as root, nginx's workers would switch to `nobody`, which must then be able to write into
# data/ and tmp/ and to walk every directory above DIR (a DIR under a 0700 home or build folder
# would fail). The workers stay root instead: the server listens on loopback only and lives for
# one test run. Started by an ordinary user, nginx keeps that user and the directive is left out.
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"

# nginx with only stdin, stdout and stderr open. A descriptor the caller left open would live on in
# the daemon: swift-corelibs-foundation's Process learns that its child exited when a socket it
# hands the child is closed, so a daemon holding that socket makes waitUntilExit hang until nginx stops.
run_nginx() {
    local fd
    for fd in $(ls "/proc/$BASHPID/fd"); do
        [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
    done
    exec "$nginx_bin" "$@"
}

# A free port: a random one in 20000-59999, another when the bind fails because it is in use.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    cat > "$dir/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
lock_file $dir/nginx.lock;
error_log $dir/logs/error.log warn;

events { worker_connections 256; }

http {
    log_format cache '\$request_method \$uri \$status "\$http_authorization"';
    access_log $dir/logs/access.log cache;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 30;

    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        root $dir/data;

        location /private/ { return 401; }
        location /unavailable/ { return 503; }
        location /echo/ {
            default_type text/plain;
            return 403 "refused: \$http_authorization\n";
        }

        location / {
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
            client_max_body_size 0;
            client_body_buffer_size 1m;
        }
    }
}
EOF
    # -p and -e keep nginx's own defaults (prefix, the error log used before the config is read)
    # inside DIR too. With `daemon on` the listening socket is bound before nginx returns, so the
    # server accepts connections once this command has succeeded.
    if (run_nginx -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf") </dev/null >>"$dir/logs/stdout.log" 2>&1; then
        # The daemonized master writes the pid file just after the launching process exits.
        for _ in $(seq 1 100); do
            [ -s "$dir/nginx.pid" ] && break
            sleep 0.05
        done
        [ -s "$dir/nginx.pid" ] || { echo "$0: nginx started but wrote no $dir/nginx.pid (see $dir/logs/error.log)" >&2; exit 1; }
        echo "http://127.0.0.1:$port"
        exit 0
    fi
    grep -q "Address already in use" "$dir/logs/error.log" "$dir/logs/stdout.log" 2>/dev/null || break
done
echo "$0: nginx did not start (see $dir/logs/error.log):" >&2
tail -n 5 "$dir/logs/error.log" "$dir/logs/stdout.log" >&2 2>/dev/null || true
exit 1
