#!/bin/sh
# cluster.sh up|down|status [BUILD] - a local Cairn cluster for trying it
# out: three servers and one client on 127.0.0.11-14, Consul's default ports
# on each address (HTTP :8500, DNS :8600, LAN gossip :8301, ...), data and
# logs under ${CAIRN_CLUSTER_DIR:-/tmp/cairn-cluster}.  The servers expect
# each other (-bootstrap-expect 3); the client joins server1.  `down` stops
# every agent it started (by PID) and removes the directory.
set -eu
cmd=${1:-up}
b=${2:-build}
dir=${CAIRN_CLUSTER_DIR:-/tmp/cairn-cluster}
cairn="$(cd "$(dirname "$0")/.." && pwd)/$b/cairn"

start() { # name ip args...
	name=$1 ip=$2
	shift 2
	mkdir -p "$dir/$name"
	"$cairn" agent -node "$name" -bind "$ip" -client "$ip" \
	    -data-dir "$dir/$name/data" "$@" >"$dir/$name/agent.log" 2>&1 &
	echo $! >"$dir/$name/pid"
}

case $cmd in
up)
	[ -x "$cairn" ] || { echo "no $cairn: run make first" >&2; exit 1; }
	if [ -d "$dir" ]; then echo "$dir exists: run '$0 down' first" >&2; exit 1; fi
	mkdir -p "$dir"
	start server1 127.0.0.11 -server -bootstrap-expect 3
	start server2 127.0.0.12 -server -bootstrap-expect 3 -retry-join 127.0.0.11
	start server3 127.0.0.13 -server -bootstrap-expect 3 -retry-join 127.0.0.11
	start agent1 127.0.0.14 -retry-join 127.0.0.11
	i=0
	until "$cairn" members -http-addr=127.0.0.14:8500 2>/dev/null | grep -c alive |
	    grep -qx 4; do
		i=$((i + 1))
		if [ $i -gt 60 ]; then
			echo "the cluster did not form in 30 s; logs in $dir/*/agent.log" >&2
			exit 1
		fi
		sleep 0.5
	done
	"$cairn" members -http-addr=127.0.0.14:8500
	cat <<EOT

Cluster up (logs: $dir/<node>/agent.log).  Try:
  $cairn members -http-addr=127.0.0.14:8500
  curl -X PUT --data hello http://127.0.0.14:8500/v1/kv/greeting
  curl http://127.0.0.11:8500/v1/kv/greeting?raw
  dig @127.0.0.12 -p 8600 consul.service.consul
Stop it with: $0 down
EOT
	;;
down)
	for p in "$dir"/*/pid; do
		[ -f "$p" ] || continue
		pid=$(cat "$p")
		kill "$pid" 2>/dev/null || true
	done
	for p in "$dir"/*/pid; do
		[ -f "$p" ] || continue
		pid=$(cat "$p") i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$pid" 2>/dev/null || true
	done
	rm -rf "$dir"
	echo "cluster stopped"
	;;
status)
	"$cairn" members -http-addr=127.0.0.14:8500
	"$cairn" operator raft list-peers -http-addr=127.0.0.11:8500
	;;
*)
	echo "usage: $0 up|down|status [build dir]" >&2
	exit 1
	;;
esac
