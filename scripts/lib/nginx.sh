# Debian's nginx for the scripts' HTTPS servers: nginx_start DIR PORT serves DIR/www over TLS
# on 127.0.0.1:PORT with DIR/srv.pem and DIR/srv.key, logs each request to DIR/access.log
# as `status uri "range" bytes`, and keeps everything else (pid, temp files) in DIR.
# With a third argument API_PORT, requests under /api/ go to http://127.0.0.1:API_PORT (the
# Mender server stand-in), as a real server's gateway sends them to its services.
# Stop it with nginx_stop DIR.
nginx_start() {
    local dir=$1 port=$2 api=${3:-} user="" proxy=""
    if [[ $(id -u) == 0 ]]; then user="user root;"; fi # the workers must read DIR, private to root
    if [[ -n $api ]]; then
        proxy="location /api/ { proxy_pass http://127.0.0.1:$api; proxy_set_header Host \$host:\$server_port; }"
    fi
    cat >"$dir/nginx.conf" <<CONF
$user
worker_processes 1;
pid $dir/nginx.pid;
events { worker_connections 64; }
http {
    log_format gate '\$status \$request_uri "\$http_range" \$body_bytes_sent';
    access_log $dir/access.log gate;
    client_body_temp_path $dir/tmp-body;
    proxy_temp_path $dir/tmp-proxy;
    fastcgi_temp_path $dir/tmp-fastcgi;
    uwsgi_temp_path $dir/tmp-uwsgi;
    scgi_temp_path $dir/tmp-scgi;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $dir/srv.pem;
        ssl_certificate_key $dir/srv.key;
        root $dir/www;
        $proxy
    }
}
CONF
    nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
}

nginx_stop() {
    kill "$(cat "$1/nginx.pid" 2>/dev/null)" 2>/dev/null || true
}

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
