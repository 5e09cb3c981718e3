#!/usr/bin/env bash
# Real services for the integration tests and CI: Kafka (KRaft, one node),
# Redis, a 3-node Redis Cluster and an SES v2 emulator, all on 127.0.0.1, all
# owned by this repo.
#
#   scripts/services.sh up      provision what is missing, start what is not
#                               running (reuse what is healthy), print the env
#   scripts/services.sh env     print `export ...` lines: eval "$(scripts/services.sh env)"
#   scripts/services.sh status  show each service; exit 1 unless all are healthy
#   scripts/services.sh down    stop what `up` started (idempotent)
#   scripts/services.sh run CMD...
#                               `up`, run CMD with the env, then `down` (even
#                               when CMD fails or is interrupted); exits with
#                               CMD's status. KEEP_SERVICES=1 keeps them running
#                               for the next run to reuse. `make test` uses it.
#
# Ports (all on 127.0.0.1) come from, first to last: SENDONCE_KAFKA_PORT,
# SENDONCE_KAFKA_CONTROLLER_PORT, SENDONCE_KAFKA_SASL_SSL_PORT,
# SENDONCE_REDIS_PORT, SENDONCE_REDIS_TLS_PORT, SENDONCE_SES_PORT,
# SENDONCE_MOTO_PORT, SENDONCE_REDIS_CLUSTER_PORTS (three ports, comma-separated;
# each node's cluster bus is on its port + 10000); what `up` recorded in <state dir>/ports; a free port
# picked at `up` when SENDONCE_FREE_PORTS=1 (and none of this state dir's
# services is running); the fixed defaults below. `up` records the ports it
# used so that `env`, `status` and `down` find them.
#
# State dir: SENDONCE_SERVICES_DIR (default .cache/services). Each state dir is
# one independent set of services (`make test` uses .cache/services-test on
# free ports), so two clones, or a developer's services and `make test`, run
# side by side. `down` stops only processes whose pid file is in the state dir
# AND whose command line is the one `up` started (path of the state dir or
# port): never a process it did not start.
#
# Progress goes to stderr; only the export lines go to stdout, so
# `eval "$(scripts/services.sh up)"` works too.
#
# A service whose variable is already set in the environment to something
# other than our own endpoint is external: nothing is started for it.
#   KAFKA_BROKERS            ours: 127.0.0.1:39092 (controller 39093) by default
#   REDIS_URL                ours: redis://127.0.0.1:36379/0 by default
#   AWS_ENDPOINT_URL_SESV2   ours: http://127.0.0.1:38005 by default
#   REDIS_CLUSTER_URL        ours: redis+cluster://127.0.0.1:36381,127.0.0.1:36382,127.0.0.1:36383
#                            by default: three masters (no replicas) of Debian's
#                            redis-server in cluster mode, AOF on, slots spread
#                            by `redis-cli --cluster create`; the URL form is
#                            pkg/redisconn's (--redis-url with --redis-cluster)
#
# Secured endpoints of the same servers, for the tests of TLS and auth (a
# test CA made with the JDK's keytool in .cache/services/tls):
#   KAFKA_BROKERS_SASL_SSL   ours: 127.0.0.1:39094, SASL_SSL with SCRAM-SHA-512
#                            (user in SENDONCE_TEST_KAFKA_USERNAME, password in
#                            the file SENDONCE_TEST_KAFKA_PASSWORD_FILE, CA in
#                            SENDONCE_TEST_KAFKA_CA_FILE)
#   REDIS_TLS_URL            ours: rediss://sendonce@127.0.0.1:36380/0 (password
#                            in SENDONCE_TEST_REDIS_PASSWORD_FILE, CA in
#                            SENDONCE_TEST_REDIS_CA_FILE)
# Passwords are only ever in files (0600), never printed.
#   AWS_ENDPOINT_URL_S3      ours: http://127.0.0.1:35000 (moto)
#   AWS_ENDPOINT_URL_SNS, AWS_ENDPOINT_URL_SQS
#                            the same moto (it serves SNS and SQS on that port;
#                            it fans SNS out to SQS), or AWS_ENDPOINT_URL_S3's
#                            external endpoint
#
# State lives in .cache/ (git-ignored): .cache/moto/venv (moto from PyPI), .cache/kafka/libs (broker jars from
# Maven Central, see scripts/kafka/pom.xml) and .cache/services/ (pids, logs,
# data). Kafka is formatted fresh on every start (empty cluster); Redis keeps
# its append-only file in .cache/services/redis across restarts.
#
# SES emulator (npm aws-ses-v2-local, pinned in scripts/ses/package-lock.json):
#   - every API call needs an `Authorization: AWS...` header (SDK signing
#     gives it); GetAccount returns the JSON in $AWS_SES_ACCOUNT (set below).
#   - GET  /store                   -> {"templates":{<name>:{TemplateName,
#          TemplateContent:{Subject,Html,Text},CreatedTimestamp}},
#          "emails":[{messageId,from,replyTo[],destination:{to[],cc[],bcc[]},
#          subject,body:{html,text},attachments[],headers,at}]}
#          (`at` is epoch seconds; GET /store?since=<epoch s> filters emails).
#          Templated sends are stored already rendered (subject/body).
#   - POST /clear-store             -> empties emails AND templates.
#   - GET  /health-check            -> 200 (used below as readiness probe).
#   - GET  /get-emlContent?messageId=ses-123 -> the email as .eml text.
#   - GET  /                        -> web inbox viewer.
#   No auth is needed on these four. Everything is in memory: a restart empties it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
SVC="${SENDONCE_SERVICES_DIR:-$CACHE/services}"
case "$SVC" in /*) ;; *) SVC="$PWD/$SVC" ;; esac
PORTS_FILE="$SVC/ports"
KAFKA_LIBS="$CACHE/kafka/libs"
KAFKA_POM="$ROOT/scripts/kafka/pom.xml"
SES_DIR="$ROOT/scripts/ses"

# Defaults; see "Ports" above for what overrides them.
KAFKA_PORT=39092
KAFKA_CONTROLLER_PORT=39093
REDIS_PORT=36379
KAFKA_SASL_SSL_PORT=39094
REDIS_TLS_PORT=36380
SES_PORT=38005
MOTO_PORT=35000
REDIS_CLUSTER_PORT1=36381
REDIS_CLUSTER_PORT2=36382
REDIS_CLUSTER_PORT3=36383
PORT_VARS=(KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_SASL_SSL_PORT REDIS_PORT REDIS_TLS_PORT SES_PORT MOTO_PORT
  REDIS_CLUSTER_PORT1 REDIS_CLUSTER_PORT2 REDIS_CLUSTER_PORT3)

# Generous quota so rate limiting in our code is what gets tested, not the emulator's.
SES_ACCOUNT_JSON='{"DedicatedIpAutoWarmupEnabled":false,"Details":{"AdditionalContactEmailAddresses":[],"ContactLanguage":"EN","MailType":"TRANSACTIONAL","ReviewDetails":{"CaseId":"sendonce-local","Status":"GRANTED"},"UseCaseDescription":"sendonce integration tests","WebsiteURL":"https://example.com"},"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":true,"SendingEnabled":true,"SendQuota":{"Max24HourSend":10000000,"MaxSendRate":2000,"SentLast24Hours":0},"SuppressionAttributes":{"SuppressedReasons":[]}}'

log() { echo "services.sh: $*" >&2; }

# fail <service> <reason> [logfile]: report, show the log's tail, exit 1.
fail() {
  local svc="$1" reason="$2" logfile="${3:-}"
  echo "services.sh: $svc failed to start: $reason" >&2
  if [[ -n "$logfile" && -s "$logfile" ]]; then
    echo "---- last lines of $logfile ----" >&2
    tail -n 40 "$logfile" >&2 || true
    echo "----" >&2
  fi
  exit 1
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

hash_of() { sha256sum "$1" | cut -d' ' -f1; }

# redact <url>: the URL with its password (if any) replaced, for messages.
redact() { sed -E 's#^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^/?#]*@#\1:xxxxx@#' <<<"$1"; }

# external <var> <ours>: true when the variable is set to someone else's endpoint.
external() {
  local v="${!1:-}"
  [[ -n "$v" && "$v" != "$2" ]]
}

# pid_alive <pid>: running, and not a zombie (our own children stay
# signalable after they exit until they are reaped).
pid_alive() {
  [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
  local st; st="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
  [[ "$st" != Z ]]
}

read_pid() { if [[ -s "$1" ]]; then tr -dc '0-9' <"$1"; fi; }

# port_open <port>: something accepts TCP connections on 127.0.0.1:<port>.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_matches <pid> <text>: the process's command line (arguments joined by
# spaces, one space at the end) contains text: guards pid reuse and tells our
# process from another state dir's or anybody else's.
pid_matches() {
  pid_alive "$1" || return 1
  local cmd; cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) "
  [[ "$cmd" == *"$2"* ]]
}

# answers <check> <seconds>: the check passes within that time (asked every
# 0.5 s). A service of ours that is slow on a loaded machine gets this grace
# before `up` declares it not answering and restarts it (which would empty
# the in-memory SES emulator and moto under the feet of their users).
answers() {
  local check="$1" secs="$2" i
  for ((i = 0; i < secs * 2; i++)); do
    "$check" && return 0
    sleep 0.5
  done
  "$check"
}

# stop_pid <name> <pid> <cmdline text> [seconds]: TERM, wait, then KILL.
stop_pid() {
  local name="$1" pid="$2" match="$3" secs="${4:-30}" i
  pid_matches "$pid" "$match" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    pid_alive "$pid" || { log "$name stopped (pid $pid)"; return 0; }
    sleep 0.1
  done
  log "$name did not stop in ${secs}s, killing pid $pid"
  kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- ports

# load_ports: the ports recorded by `up` in $PORTS_FILE, then the
# SENDONCE_<NAME> overrides.
load_ports() {
  local name val ov
  if [[ -s "$PORTS_FILE" ]]; then
    while IFS='=' read -r name val; do
      if [[ " ${PORT_VARS[*]} " == *" $name "* && "$val" =~ ^[0-9]+$ ]]; then
        printf -v "$name" '%s' "$val"
      fi
    done <"$PORTS_FILE"
  fi
  if [[ -n "${SENDONCE_REDIS_CLUSTER_PORTS:-}" ]]; then
    # Three ports: the per-node overrides below then check and apply them.
    local cps
    IFS=', ' read -r -a cps <<<"$SENDONCE_REDIS_CLUSTER_PORTS"
    if [[ ${#cps[@]} -ne 3 ]]; then
      echo "services.sh: SENDONCE_REDIS_CLUSTER_PORTS=$SENDONCE_REDIS_CLUSTER_PORTS: want three ports, comma-separated" >&2
      exit 2
    fi
    SENDONCE_REDIS_CLUSTER_PORT1="${cps[0]}" SENDONCE_REDIS_CLUSTER_PORT2="${cps[1]}" SENDONCE_REDIS_CLUSTER_PORT3="${cps[2]}"
  fi
  for name in "${PORT_VARS[@]}"; do
    ov="SENDONCE_$name"
    [[ -n "${!ov:-}" ]] || continue
    if ! [[ "${!ov}" =~ ^[0-9]+$ ]] || ((${!ov} < 1 || ${!ov} > 65535)); then
      echo "services.sh: $ov=${!ov} is not a port number (1-65535)" >&2
      exit 2
    fi
    printf -v "$name" '%s' "${!ov}"
  done
}

set_endpoints() {
  OUR_KAFKA="127.0.0.1:$KAFKA_PORT"
  OUR_KAFKA_SASL_SSL="127.0.0.1:$KAFKA_SASL_SSL_PORT"
  OUR_REDIS="redis://127.0.0.1:$REDIS_PORT/0"
  OUR_REDIS_TLS="rediss://sendonce@127.0.0.1:$REDIS_TLS_PORT/0"
  OUR_SES="http://127.0.0.1:$SES_PORT"
  OUR_MOTO="http://127.0.0.1:$MOTO_PORT"
  OUR_REDIS_CLUSTER="redis+cluster://127.0.0.1:$REDIS_CLUSTER_PORT1,127.0.0.1:$REDIS_CLUSTER_PORT2,127.0.0.1:$REDIS_CLUSTER_PORT3"
}

# free_port <var> [span]: sets var to a port nothing listens on, in
# 20000..20000+span-1 (span 12000: below the ephemeral range) and not handed
# out already by this run.
PICKED=" "
free_port() {
  local p i span="${2:-12000}"
  for ((i = 0; i < 500; i++)); do
    p=$((20000 + RANDOM % span))
    [[ "$PICKED" == *" $p "* ]] && continue
    port_open "$p" && continue
    PICKED+="$p "
    printf -v "$1" '%s' "$p"
    return 0
  done
  echo "services.sh: found no free port in 20000-31999" >&2
  exit 1
}

# any_running: a pid file of this state dir names a live process.
any_running() {
  local f
  for f in "$SVC"/kafka/kafka.pid "$SVC"/redis/redis.pid "$SVC"/ses/ses.pid "$SVC"/moto/moto.pid "$SVC"/redis-cluster/*/redis.pid; do
    pid_alive "$(read_pid "$f")" && return 0
  done
  return 1
}

# choose_ports (at `up`, under the lock): free ports when asked for and
# nothing of this state dir is running (else the recorded ones), then record them.
choose_ports() {
  local name ov
  if [[ "${SENDONCE_FREE_PORTS:-0}" == 1 ]] && ! any_running; then
    for name in "${PORT_VARS[@]}"; do
      ov="SENDONCE_$name"
      [[ -n "${!ov:-}" ]] || free_port "$name"
    done
    # A cluster node also needs its bus port (port + 10000) free, and below
    # the ephemeral range (32768 up) too: an outgoing connection could take
    # it between this check and the node's bind (seen: "bind: Address
    # already in use" on a bus port of 34650). Node ports 20000-22767.
    for name in REDIS_CLUSTER_PORT1 REDIS_CLUSTER_PORT2 REDIS_CLUSTER_PORT3; do
      ov="SENDONCE_$name"
      [[ -n "${!ov:-}" ]] && continue
      [[ "${!name}" -lt 22768 ]] || free_port "$name" 2768
      while port_open $((${!name} + 10000)) || [[ "$PICKED" == *" $((${!name} + 10000)) "* ]]; do free_port "$name" 2768; done
      PICKED+="$((${!name} + 10000)) "
    done
    log "free ports picked for ${SVC#"$ROOT"/}: kafka $KAFKA_PORT, redis $REDIS_PORT, ses $SES_PORT, moto $MOTO_PORT, redis cluster $(rcl_ports)"
  fi
  set_endpoints
  for name in "${PORT_VARS[@]}"; do echo "$name=${!name}"; done >"$PORTS_FILE.tmp"
  mv -f "$PORTS_FILE.tmp" "$PORTS_FILE"
}

load_ports
set_endpoints

# ---------------------------------------------------------------- provisioning

APT_UPDATED=0
as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else return 1
  fi
}

# apt_install <service> <package>...: install Debian packages without letting
# their own init scripts start daemons (we run our own instances).
apt_install() {
  local svc="$1"; shift
  command -v apt-get >/dev/null || fail "$svc" "need Debian packages $* but apt-get is not available"
  log "installing Debian packages: $*"
  local aptlog="$SVC/apt.log" policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e $policy ]]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy" 2>/dev/null && added_policy=1
  fi
  local rc=0
  {
    if [[ $APT_UPDATED -eq 0 ]]; then
      as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q && APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
  } >>"$aptlog" 2>&1 || rc=$?
  if [[ $added_policy -eq 1 ]]; then as_root rm -f "$policy"; fi
  [[ $rc -eq 0 ]] || fail "$svc" "apt-get install $* failed (exit $rc; root or sudo needed)" "$aptlog"
}

need_cmd() { # need_cmd <service> <command> <debian package>
  command -v "$2" >/dev/null || apt_install "$1" "$3"
  command -v "$2" >/dev/null || fail "$1" "$2 not found even after installing $3"
}

# ---------------------------------------------------------------- tls

# One test CA and one server certificate (127.0.0.1, localhost) for Kafka's
# SASL_SSL listener and Redis's TLS port, made with the JDK's keytool: Kafka
# reads the PKCS12 keystore, Redis PEM copies (openssl). Made once, kept in
# .cache/services/tls (git-ignored, never committed); delete that folder to
# make new ones.
TLS_DIR="$SVC/tls"
TLS_CA="$TLS_DIR/ca.pem"
TLS_KEYSTORE="$TLS_DIR/server.p12"
TLS_STOREPASS="$TLS_DIR/storepass"

# new_secret <file>: a random password in a file only we can read.
new_secret() {
  (umask 077 && head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1")
}

tls_certs() {
  local f ok=1
  for f in "$TLS_CA" "$TLS_KEYSTORE" "$TLS_STOREPASS" "$TLS_DIR/server.key" "$TLS_DIR/server.crt"; do
    [[ -s "$f" ]] || ok=0
  done
  [[ $ok -eq 1 ]] && return 0
  need_cmd tls keytool openjdk-17-jre-headless
  need_cmd tls openssl openssl
  log "tls: making a test CA and server certificate with keytool in ${TLS_DIR#"$ROOT"/}"
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  new_secret "$TLS_STOREPASS"
  local out="$SVC/keytool.log" ca="$TLS_DIR/ca.p12" pw=(-storepass:file "$TLS_STOREPASS")
  {
    keytool -genkeypair -alias ca -keyalg RSA -keysize 2048 -dname "CN=sendonce test CA" \
      -ext bc:c -validity 3650 -storetype PKCS12 -keystore "$ca" "${pw[@]}" &&
      keytool -exportcert -rfc -alias ca -keystore "$ca" "${pw[@]}" -file "$TLS_CA" &&
      keytool -genkeypair -alias server -keyalg RSA -keysize 2048 -dname "CN=localhost" \
        -validity 3650 -storetype PKCS12 -keystore "$TLS_KEYSTORE" "${pw[@]}" &&
      keytool -certreq -alias server -keystore "$TLS_KEYSTORE" "${pw[@]}" -file "$TLS_DIR/server.csr" &&
      keytool -gencert -rfc -alias ca -keystore "$ca" "${pw[@]}" -infile "$TLS_DIR/server.csr" \
        -outfile "$TLS_DIR/server.crt" -validity 3650 -ext san=dns:localhost,ip:127.0.0.1 \
        -ext eku=serverAuth -ext ku:c=digitalSignature,keyEncipherment &&
      keytool -importcert -noprompt -alias ca -file "$TLS_CA" -keystore "$TLS_KEYSTORE" "${pw[@]}" &&
      keytool -importcert -alias server -file "$TLS_DIR/server.crt" -keystore "$TLS_KEYSTORE" "${pw[@]}" &&
      openssl pkcs12 -in "$TLS_KEYSTORE" -passin "file:$TLS_STOREPASS" -nocerts -nodes -out "$TLS_DIR/server.key"
  } >"$out" 2>&1 || fail tls "keytool/openssl could not make the test certificates" "$out"
  chmod 600 "$TLS_DIR"/*
  chmod 644 "$TLS_CA"
}

# ---------------------------------------------------------------- kafka

KAFKA_DIR="$SVC/kafka"           # server.properties, pid, logs
KAFKA_DATA="$SVC/kafka-data"     # log.dirs (metadata + topics)
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_OUT="$KAFKA_DIR/logs/kafka.out"
KAFKA_LOG="$KAFKA_DIR/logs/server.log"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
WAITKAFKA="$SVC/bin/waitkafka"
KAFKA_SASL_USER=sendonce
KAFKA_SASL_PASSWORD="$SVC/kafka-sasl.password"

kafka_libs() {
  local stamp="$KAFKA_LIBS/.pom.sha256" want
  want="$(hash_of "$KAFKA_POM")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  need_cmd kafka java openjdk-17-jre-headless
  need_cmd kafka mvn maven
  log "kafka: downloading broker jars into ${KAFKA_LIBS#"$ROOT"/} (mvn)"
  local t0 mvnlog="$SVC/mvn.log"
  t0="$(now)"
  rm -rf "$KAFKA_LIBS"
  mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies@kafka-libs \
    -Dkafka.libs.dir="$KAFKA_LIBS" >"$mvnlog" 2>&1 ||
    fail kafka "mvn could not fetch the broker jars" "$mvnlog"
  ls "$KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 || fail kafka "no kafka_2.13 jar in $KAFKA_LIBS after mvn" "$mvnlog"
  echo "$want" >"$stamp"
  log "kafka: jars ready in $(since "$t0")s ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
}

waitkafka_bin() {
  command -v go >/dev/null || fail kafka "go not found (needed for scripts/waitkafka)"
  # go build is incremental: a no-op when nothing changed.
  (cd "$ROOT" && go build -o "$WAITKAFKA" ./scripts/waitkafka) >"$SVC/waitkafka-build.log" 2>&1 ||
    fail kafka "could not build scripts/waitkafka" "$SVC/waitkafka-build.log"
}

kafka_healthy() {
  local pid; pid="$(read_pid "$KAFKA_PID")"
  pid_matches "$pid" "$KAFKA_PROPS" && "$WAITKAFKA" -q -brokers "$OUR_KAFKA" -timeout 5s >/dev/null 2>&1
}

kafka_write_props() {
  # 0600: it holds the keystore password.
  (umask 077 && cat "$ROOT/scripts/kafka/server.properties.in" "$ROOT/scripts/kafka/sasl_ssl.properties.in" |
    sed -e "s|@BROKER_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@LOG_DIRS@|$KAFKA_DATA|g" -e "s|@SASL_SSL_PORT@|$KAFKA_SASL_SSL_PORT|g" \
      -e "s|@KEYSTORE@|$TLS_KEYSTORE|g" -e "s|@KEYSTORE_PASSWORD@|$(cat "$TLS_STOREPASS")|g" >"$KAFKA_PROPS")
}

kafka_up() {
  if external KAFKA_BROKERS "$OUR_KAFKA"; then
    log "kafka: using external KAFKA_BROKERS=$KAFKA_BROKERS"
    return 0
  fi
  mkdir -p "$KAFKA_DIR/logs" "$SVC/bin"
  kafka_libs
  waitkafka_bin
  if kafka_healthy; then
    log "kafka: already running on $OUR_KAFKA (pid $(read_pid "$KAFKA_PID"))"
    if ! port_open "$KAFKA_SASL_SSL_PORT"; then
      log "kafka: this broker has no SASL_SSL listener on $OUR_KAFKA_SASL_SSL (an older services.sh started it); the TLS/SCRAM tests need \`scripts/services.sh down && scripts/services.sh up\`"
    fi
    return 0
  fi
  local old; old="$(read_pid "$KAFKA_PID")"
  if pid_matches "$old" "$KAFKA_PROPS"; then
    log "kafka: pid $old is not answering, restarting it"
    stop_pid kafka "$old" "$KAFKA_PROPS" 30
  fi
  rm -f "$KAFKA_PID"
  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_SSL_PORT"; do
    port_open "$p" && fail kafka "port 127.0.0.1:$p is already in use by another process"
  done
  need_cmd kafka java openjdk-17-jre-headless
  tls_certs
  [[ -s "$KAFKA_SASL_PASSWORD" ]] || new_secret "$KAFKA_SASL_PASSWORD"

  kafka_write_props
  rm -rf "$KAFKA_DATA" "$KAFKA_DIR"/logs/*
  # 16 random bytes as unpadded base64url: the 22-character cluster id Kafka wants
  # (passed as --cluster-id=ID: an id may start with "-", which -t ID would
  # take for an option).
  local cluster_id
  cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
  local jvm=(java -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.properties"
    -Dkafka.logs.dir="$KAFKA_DIR/logs" -Djava.awt.headless=true)
  # The SCRAM user of the SASL_SSL listener is created at format time.
  "${jvm[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format --standalone \
    --cluster-id="$cluster_id" -c "$KAFKA_PROPS" \
    --add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$(cat "$KAFKA_SASL_PASSWORD")]" >"$KAFKA_DIR/logs/format.out" 2>&1 ||
    fail kafka "kafka-storage format failed" "$KAFKA_DIR/logs/format.out"

  local t0; t0="$(now)"
  setsid nohup "${jvm[@]}" -Xmx512m -Xms512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" \
    >"$KAFKA_OUT" 2>&1 </dev/null 9>&- &
  local pid=$!
  echo "$pid" >"$KAFKA_PID"
  log "kafka: started pid $pid, waiting for metadata on $OUR_KAFKA"
  # Poll metadata (not a fixed sleep); give up at once if the JVM dies.
  "$WAITKAFKA" -q -brokers "$OUR_KAFKA" -timeout 90s 2>"$KAFKA_DIR/logs/wait.out" 9>&- &
  local wpid=$! ok=0
  while pid_alive "$wpid"; do
    if ! pid_alive "$pid"; then kill "$wpid" 2>/dev/null || true; break; fi
    sleep 0.2
  done
  if wait "$wpid"; then ok=1; fi
  if [[ $ok -eq 0 ]]; then
    local why; why="$(tail -n 1 "$KAFKA_DIR/logs/wait.out")"
    if ! pid_alive "$pid"; then
      local code=0; wait "$pid" || code=$?
      why="java exited with status $code${why:+; $why}"
    fi
    cat "$KAFKA_OUT" "$KAFKA_LOG" >"$KAFKA_DIR/logs/failure.log" 2>/dev/null || true
    fail kafka "${why:-no metadata within 90s}" "$KAFKA_DIR/logs/failure.log"
  fi
  log "kafka: broker ready on $OUR_KAFKA and $OUR_KAFKA_SASL_SSL (SASL_SSL) in $(since "$t0")s (pid $pid)"
}

kafka_down() {
  local pid; pid="$(read_pid "$KAFKA_PID")"
  if pid_matches "$pid" "$KAFKA_PROPS"; then
    stop_pid kafka "$pid" "$KAFKA_PROPS" 30
  fi
  rm -f "$KAFKA_PID"
}

kafka_status() {
  if external KAFKA_BROKERS "$OUR_KAFKA"; then echo "kafka: external $KAFKA_BROKERS"; return 0; fi
  local pid; pid="$(read_pid "$KAFKA_PID")"
  if [[ -x "$WAITKAFKA" ]] && kafka_healthy; then
    echo "kafka: running $OUR_KAFKA pid $pid; SASL_SSL $OUR_KAFKA_SASL_SSL $(port_open "$KAFKA_SASL_SSL_PORT" && echo up || echo 'MISSING (started by an older services.sh: down && up)')"
    return 0
  fi
  if pid_matches "$pid" "$KAFKA_PROPS"; then echo "kafka: NOT ANSWERING pid $pid (log: ${KAFKA_DIR#"$ROOT"/}/logs)"; return 1; fi
  echo "kafka: stopped"; return 1
}

# ---------------------------------------------------------------- redis

REDIS_DIR="$SVC/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
REDIS_TLS_CONF="$REDIS_DIR/tls.conf"
REDIS_TLS_PASSWORD="$SVC/redis-tls.password"

# redis_tls_conf: the TLS port and the ACL user of REDIS_TLS_URL, in a file
# (0600) so that the password is not on a command line.
redis_tls_conf() {
  tls_certs
  [[ -s "$REDIS_TLS_PASSWORD" ]] || new_secret "$REDIS_TLS_PASSWORD"
  (umask 077 && cat >"$REDIS_TLS_CONF" <<EOF
tls-port $REDIS_TLS_PORT
tls-cert-file $TLS_DIR/server.crt
tls-key-file $TLS_DIR/server.key
tls-ca-cert-file $TLS_CA
tls-auth-clients optional
user sendonce on >$(cat "$REDIS_TLS_PASSWORD") ~* &* +@all
EOF
  )
}

# redis_match: the process title of the redis-server we start (it shows bind:port).
redis_match() { echo "redis-server 127.0.0.1:$REDIS_PORT "; }

redis_ping() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

redis_up() {
  if external REDIS_URL "$OUR_REDIS"; then
    log "redis: using external REDIS_URL=$(redact "$REDIS_URL")"
    return 0
  fi
  mkdir -p "$REDIS_DIR"
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis redis-server redis-tools
  fi
  command -v redis-server >/dev/null || fail redis "redis-server not found after apt-get install"
  local pid; pid="$(read_pid "$REDIS_PID")"
  if pid_matches "$pid" "$(redis_match)" && answers redis_ping 15; then
    log "redis: already running on $OUR_REDIS (pid $pid)"
    if ! port_open "$REDIS_TLS_PORT"; then
      log "redis: this server has no TLS port $REDIS_TLS_PORT (an older services.sh started it); the rediss:// tests need \`scripts/services.sh down && scripts/services.sh up\`"
    fi
    return 0
  fi
  if pid_matches "$pid" "$(redis_match)"; then
    log "redis: pid $pid is not answering, restarting it"
    stop_pid redis "$pid" "$(redis_match)" 10
  fi
  rm -f "$REDIS_PID"
  port_open "$REDIS_PORT" && fail redis "port 127.0.0.1:$REDIS_PORT is already in use by another process"
  port_open "$REDIS_TLS_PORT" && fail redis "port 127.0.0.1:$REDIS_TLS_PORT is already in use by another process"
  redis_tls_conf
  local t0; t0="$(now)"
  : >"$REDIS_LOG"
  redis-server "$REDIS_TLS_CONF" --port "$REDIS_PORT" --bind 127.0.0.1 --appendonly yes --dir "$REDIS_DIR" \
    --daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --save '' >"$REDIS_DIR/redis.out" 2>&1 9>&- ||
    fail redis "redis-server exited with status $?" "$REDIS_DIR/redis.out"
  local i
  for ((i = 0; i < 200; i++)); do
    redis_ping && break
    sleep 0.1
  done
  redis_ping || fail redis "no PONG from 127.0.0.1:$REDIS_PORT within 20s" "$REDIS_LOG"
  port_open "$REDIS_TLS_PORT" || fail redis "no TLS port 127.0.0.1:$REDIS_TLS_PORT" "$REDIS_LOG"
  log "redis: ready on $OUR_REDIS in $(since "$t0")s (pid $(read_pid "$REDIS_PID"))"
}

redis_down() {
  local pid; pid="$(read_pid "$REDIS_PID")"
  # SIGTERM to the pid we started (not a SHUTDOWN to whoever is on the port).
  if pid_matches "$pid" "$(redis_match)"; then
    stop_pid redis "$pid" "$(redis_match)" 10
  fi
  rm -f "$REDIS_PID"
}

redis_status() {
  if external REDIS_URL "$OUR_REDIS"; then echo "redis: external $(redact "$REDIS_URL")"; return 0; fi
  local pid; pid="$(read_pid "$REDIS_PID")"
  if pid_matches "$pid" "$(redis_match)" && command -v redis-cli >/dev/null && redis_ping; then
    echo "redis: running $OUR_REDIS pid $pid; TLS $OUR_REDIS_TLS $(port_open "$REDIS_TLS_PORT" && echo up || echo 'MISSING (started by an older services.sh: down && up)')"
    return 0
  fi
  if pid_matches "$pid" "$(redis_match)"; then echo "redis: NOT ANSWERING pid $pid (log: ${REDIS_LOG#"$ROOT"/})"; return 1; fi
  echo "redis: stopped"; return 1
}

# ---------------------------------------------------------------- redis cluster

# Three masters (no replicas) of the same Debian redis-server in cluster mode,
# for the tests of the cluster client (--redis-cluster): the 16384 hash slots
# spread over the three. Each node has its own folder, named by its port, in
# <state dir>/redis-cluster (nodes.conf, the AOF, pid and log), so a restart
# on the same ports finds the cluster again; on new ports a new one is made.
RCL_DIR="$SVC/redis-cluster"

rcl_ports() { echo "$REDIS_CLUSTER_PORT1 $REDIS_CLUSTER_PORT2 $REDIS_CLUSTER_PORT3"; }
rcl_pidfile() { echo "$RCL_DIR/$1/redis.pid"; }
# rcl_match <port>: the process title (cluster mode adds " [cluster]").
rcl_match() { echo "redis-server 127.0.0.1:$1 "; }
rcl_ping() { [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]; }
# rcl_info <port> <field>: one field of CLUSTER INFO.
rcl_info() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }
# rcl_ok: every node says cluster_state:ok.
rcl_ok() {
  local p
  for p in $(rcl_ports); do [[ "$(rcl_info "$p" cluster_state)" == ok ]] || return 1; done
}
# rcl_formed: every node knows the three and sees all slots assigned.
rcl_formed() {
  local p
  for p in $(rcl_ports); do
    [[ "$(rcl_info "$p" cluster_known_nodes)" == 3 && "$(rcl_info "$p" cluster_slots_assigned)" == 16384 ]] || return 1
  done
}

# rcl_node_up <port>: reuse the node if it is ours and answers, else start it.
rcl_node_up() {
  local p="$1" d="$RCL_DIR/$1" pid i
  pid="$(read_pid "$(rcl_pidfile "$p")")"
  if pid_matches "$pid" "$(rcl_match "$p")"; then
    for ((i = 0; i < 30; i++)); do rcl_ping "$p" && return 0; sleep 0.5; done
    log "redis-cluster: node $p (pid $pid) is not answering, restarting it"
    stop_pid "redis-cluster node $p" "$pid" "$(rcl_match "$p")" 10
  fi
  rm -f "$(rcl_pidfile "$p")"
  ((p + 10000 <= 65535)) || fail redis-cluster "node port $p: its cluster bus port (port + 10000) is above 65535; pick ports below 55536 (SENDONCE_REDIS_CLUSTER_PORTS)"
  port_open "$p" && fail redis-cluster "port 127.0.0.1:$p is already in use by another process"
  port_open $((p + 10000)) && fail redis-cluster "cluster bus port 127.0.0.1:$((p + 10000)) (node port + 10000) is already in use by another process"
  mkdir -p "$d"
  : >"$d/redis.log"
  redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$d/nodes.conf" \
    --cluster-node-timeout 5000 --appendonly yes --dir "$d" --save '' \
    --daemonize yes --pidfile "$(rcl_pidfile "$p")" --logfile "$d/redis.log" >"$d/redis.out" 2>&1 9>&- ||
    fail redis-cluster "redis-server on port $p exited with status $?" "$d/redis.out"
  for ((i = 0; i < 200; i++)); do
    rcl_ping "$p" && break
    pid="$(read_pid "$(rcl_pidfile "$p")")"
    [[ -n "$pid" ]] && ! pid_alive "$pid" && fail redis-cluster "redis-server on port $p exited" "$d/redis.log"
    sleep 0.1
  done
  rcl_ping "$p" || fail redis-cluster "no PONG from node 127.0.0.1:$p within 20s" "$d/redis.log"
  RCL_STARTED+=" $p"
}

redis_cluster_up() {
  if external REDIS_CLUSTER_URL "$OUR_REDIS_CLUSTER"; then
    log "redis-cluster: using external REDIS_CLUSTER_URL=$(redact "$REDIS_CLUSTER_URL")"
    return 0
  fi
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis-cluster redis-server redis-tools
  fi
  command -v redis-server >/dev/null || fail redis-cluster "redis-server not found after apt-get install"
  local t0 p i
  t0="$(now)"
  RCL_STARTED=""
  mkdir -p "$RCL_DIR"
  for p in $(rcl_ports); do rcl_node_up "$p"; done
  if [[ -z "$RCL_STARTED" ]] && rcl_ok; then
    log "redis-cluster: already running on $OUR_REDIS_CLUSTER"
    return 0
  fi
  if ! rcl_formed; then
    # New nodes (or a cluster left half made): empty them and create it.
    log "redis-cluster: creating the cluster of 127.0.0.1:{$(rcl_ports | tr ' ' ,)}"
    for p in $(rcl_ports); do
      redis-cli -h 127.0.0.1 -p "$p" flushall >/dev/null 2>&1 || true
      redis-cli -h 127.0.0.1 -p "$p" cluster reset hard >/dev/null 2>&1 || true
    done
    # shellcheck disable=SC2046
    redis-cli --cluster create $(for p in $(rcl_ports); do echo "127.0.0.1:$p"; done) \
      --cluster-replicas 0 --cluster-yes >"$RCL_DIR/create.log" 2>&1 9>&- ||
      fail redis-cluster "redis-cli --cluster create failed" "$RCL_DIR/create.log"
  fi
  for ((i = 0; i < 300; i++)); do
    rcl_ok && break
    sleep 0.1
  done
  if ! rcl_ok; then
    for p in $(rcl_ports); do
      echo "---- node 127.0.0.1:$p: $(redis-cli -h 127.0.0.1 -p "$p" cluster info 2>&1 | tr -d '\r' | grep -E 'cluster_state|slots_assigned|known_nodes' | tr '\n' ' ')" >&2
    done
    fail redis-cluster "cluster_state is not ok on every node within 30s" "$RCL_DIR/create.log"
  fi
  log "redis-cluster: ready on $OUR_REDIS_CLUSTER in $(since "$t0")s (started:${RCL_STARTED:- none})"
}

redis_cluster_down() {
  local p pid
  for p in $(rcl_ports); do
    pid="$(read_pid "$(rcl_pidfile "$p")")"
    if pid_matches "$pid" "$(rcl_match "$p")"; then
      stop_pid "redis-cluster node $p" "$pid" "$(rcl_match "$p")" 10
    fi
    rm -f "$(rcl_pidfile "$p")"
  done
}

redis_cluster_status() {
  if external REDIS_CLUSTER_URL "$OUR_REDIS_CLUSTER"; then echo "redis-cluster: external $(redact "$REDIS_CLUSTER_URL")"; return 0; fi
  local p pid pids="" bad=""
  for p in $(rcl_ports); do
    pid="$(read_pid "$(rcl_pidfile "$p")")"
    if pid_matches "$pid" "$(rcl_match "$p")" && command -v redis-cli >/dev/null && rcl_ping "$p"; then
      pids+=" $pid"
    elif pid_matches "$pid" "$(rcl_match "$p")"; then
      bad+=" $p:not-answering(pid $pid, log ${RCL_DIR#"$ROOT"/}/$p/redis.log)"
    else
      bad+=" $p:stopped"
    fi
  done
  if [[ -z "$pids" ]]; then echo "redis-cluster: stopped"; return 1; fi
  if [[ -n "$bad" ]]; then echo "redis-cluster: DEGRADED $OUR_REDIS_CLUSTER, nodes$bad"; return 1; fi
  if ! rcl_ok; then echo "redis-cluster: running but cluster_state is not ok on every node, pids$pids"; return 1; fi
  echo "redis-cluster: running $OUR_REDIS_CLUSTER pids$pids, cluster_state ok"
}

# ---------------------------------------------------------------- ses

SES_SVC="$SVC/ses"
SES_PID="$SES_SVC/ses.pid"
SES_LOG="$SES_SVC/ses.log"
SES_CLI="$SES_DIR/node_modules/aws-ses-v2-local/dist/cli.js"

ses_match() { echo "$SES_CLI --host 127.0.0.1 --port $SES_PORT "; }

ses_healthy() { curl -fsS -o /dev/null --max-time 2 "$OUR_SES/health-check" 2>/dev/null; }

ses_modules() {
  local stamp="$SES_DIR/node_modules/.lock.sha256" want
  want="$(hash_of "$SES_DIR/package-lock.json")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$SES_CLI" ]]; then
    return 0
  fi
  command -v npm >/dev/null || fail ses "npm not found (Node.js >= 20 with npm is needed)"
  log "ses: npm ci in ${SES_DIR#"$ROOT"/}"
  local t0; t0="$(now)"
  npm ci --prefix "$SES_DIR" --no-audit --no-fund --loglevel=error >"$SES_SVC/npm.log" 2>&1 ||
    fail ses "npm ci failed" "$SES_SVC/npm.log"
  [[ -f "$SES_CLI" ]] || fail ses "npm ci did not install $SES_CLI" "$SES_SVC/npm.log"
  echo "$want" >"$stamp"
  log "ses: node modules ready in $(since "$t0")s"
}

ses_up() {
  if external AWS_ENDPOINT_URL_SESV2 "$OUR_SES"; then
    log "ses: using external AWS_ENDPOINT_URL_SESV2=$AWS_ENDPOINT_URL_SESV2"
    return 0
  fi
  mkdir -p "$SES_SVC"
  need_cmd ses curl curl
  command -v node >/dev/null || fail ses "node not found (Node.js >= 20 is needed)"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]' 2>&1)" || fail ses "node does not run: $major"
  if ! [[ "$major" =~ ^[0-9]+$ ]] || ((major < 20)); then
    fail ses "Node.js $(node --version) is too old, aws-ses-v2-local needs >= 20"
  fi
  ses_modules
  local pid; pid="$(read_pid "$SES_PID")"
  if pid_matches "$pid" "$(ses_match)" && answers ses_healthy 15; then
    log "ses: already running on $OUR_SES (pid $pid)"
    return 0
  fi
  if pid_matches "$pid" "$(ses_match)"; then
    log "ses: pid $pid is not answering, restarting it"
    stop_pid ses "$pid" "$(ses_match)" 10
  fi
  rm -f "$SES_PID"
  port_open "$SES_PORT" && fail ses "port 127.0.0.1:$SES_PORT is already in use by another process"
  local t0; t0="$(now)"
  AWS_SES_ACCOUNT="${AWS_SES_ACCOUNT:-$SES_ACCOUNT_JSON}" SMTP_TRANSPORT='' \
    setsid nohup node "$SES_CLI" --host 127.0.0.1 --port "$SES_PORT" >"$SES_LOG" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$SES_PID"
  local i
  for ((i = 0; i < 300; i++)); do
    ses_healthy && break
    pid_alive "$pid" || fail ses "node exited" "$SES_LOG"
    sleep 0.1
  done
  ses_healthy || fail ses "no answer from $OUR_SES/health-check within 30s" "$SES_LOG"
  log "ses: emulator ready on $OUR_SES in $(since "$t0")s (pid $pid)"
}

ses_down() {
  local pid; pid="$(read_pid "$SES_PID")"
  if pid_matches "$pid" "$(ses_match)"; then
    stop_pid ses "$pid" "$(ses_match)" 10
  fi
  rm -f "$SES_PID"
}

ses_status() {
  if external AWS_ENDPOINT_URL_SESV2 "$OUR_SES"; then echo "ses: external $AWS_ENDPOINT_URL_SESV2"; return 0; fi
  local pid; pid="$(read_pid "$SES_PID")"
  if pid_matches "$pid" "$(ses_match)" && ses_healthy; then echo "ses: running $OUR_SES pid $pid"; return 0; fi
  if pid_matches "$pid" "$(ses_match)"; then echo "ses: NOT ANSWERING pid $pid (log: ${SES_LOG#"$ROOT"/})"; return 1; fi
  echo "ses: stopped"; return 1
}

# ---------------------------------------------------------------- moto

# moto (PyPI moto[server], pinned) answers the AWS APIs the tests need
# besides SES: S3 today (the Athena result files), SNS/SQS next. One server,
# in a virtualenv under .cache/moto; everything is in memory (a restart
# empties it). Readiness: GET /moto-api/config (static; /moto-api/data.json
# dumps every model and can fail on odd state).
MOTO_VERSION=5.2.5
MOTO_VENV="$CACHE/moto/venv"
MOTO_SVC="$SVC/moto"
MOTO_PID="$MOTO_SVC/moto.pid"
MOTO_LOG="$MOTO_SVC/moto.log"
MOTO_BIN="$MOTO_VENV/bin/moto_server"

moto_match() { echo "$MOTO_BIN -H 127.0.0.1 -p $MOTO_PORT "; }

moto_healthy() { curl -fsS -o /dev/null --max-time 2 "$OUR_MOTO/moto-api/config" 2>/dev/null; }

moto_venv() {
  local stamp="$MOTO_VENV/.moto-$MOTO_VERSION"
  if [[ -f "$stamp" && -x "$MOTO_BIN" ]]; then
    return 0
  fi
  command -v python3 >/dev/null || apt_install moto python3
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    apt_install moto python3-venv
  fi
  log "moto: installing moto[server]==$MOTO_VERSION (pip) into ${MOTO_VENV#"$ROOT"/}"
  local t0; t0="$(now)"
  rm -rf "$MOTO_VENV"
  python3 -m venv "$MOTO_VENV" >"$MOTO_SVC/pip.log" 2>&1 || fail moto "python3 -m venv failed" "$MOTO_SVC/pip.log"
  "$MOTO_VENV/bin/pip" install --disable-pip-version-check --no-input -q "moto[server]==$MOTO_VERSION" >>"$MOTO_SVC/pip.log" 2>&1 ||
    fail moto "pip install moto[server]==$MOTO_VERSION failed" "$MOTO_SVC/pip.log"
  [[ -x "$MOTO_BIN" ]] || fail moto "pip did not install $MOTO_BIN" "$MOTO_SVC/pip.log"
  touch "$stamp"
  log "moto: virtualenv ready in $(since "$t0")s"
}

moto_up() {
  if external AWS_ENDPOINT_URL_S3 "$OUR_MOTO"; then
    log "moto: using external AWS_ENDPOINT_URL_S3=$AWS_ENDPOINT_URL_S3"
    return 0
  fi
  mkdir -p "$MOTO_SVC"
  need_cmd moto curl curl
  moto_venv
  local pid; pid="$(read_pid "$MOTO_PID")"
  if pid_matches "$pid" "$(moto_match)" && answers moto_healthy 15; then
    log "moto: already running on $OUR_MOTO (pid $pid)"
    return 0
  fi
  if pid_matches "$pid" "$(moto_match)"; then
    log "moto: pid $pid is not answering, restarting it"
    stop_pid moto "$pid" "$(moto_match)" 10
  fi
  rm -f "$MOTO_PID"
  port_open "$MOTO_PORT" && fail moto "port 127.0.0.1:$MOTO_PORT is already in use by another process"
  local t0; t0="$(now)"
  setsid nohup "$MOTO_BIN" -H 127.0.0.1 -p "$MOTO_PORT" >"$MOTO_LOG" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$MOTO_PID"
  local i
  for ((i = 0; i < 300; i++)); do
    moto_healthy && break
    pid_alive "$pid" || fail moto "moto_server exited" "$MOTO_LOG"
    sleep 0.1
  done
  moto_healthy || fail moto "no answer from $OUR_MOTO/moto-api/config within 30s" "$MOTO_LOG"
  log "moto: ready on $OUR_MOTO in $(since "$t0")s (pid $pid)"
}

moto_down() {
  local pid; pid="$(read_pid "$MOTO_PID")"
  if pid_matches "$pid" "$(moto_match)"; then
    stop_pid moto "$pid" "$(moto_match)" 10
  fi
  rm -f "$MOTO_PID"
}

moto_status() {
  if external AWS_ENDPOINT_URL_S3 "$OUR_MOTO"; then echo "moto: external $AWS_ENDPOINT_URL_S3"; return 0; fi
  local pid; pid="$(read_pid "$MOTO_PID")"
  if pid_matches "$pid" "$(moto_match)" && moto_healthy; then echo "moto: running $OUR_MOTO pid $pid"; return 0; fi
  if pid_matches "$pid" "$(moto_match)"; then echo "moto: NOT ANSWERING pid $pid (log: ${MOTO_LOG#"$ROOT"/})"; return 1; fi
  echo "moto: stopped"; return 1
}

# ---------------------------------------------------------------- commands

print_env() {
  local kv
  for kv in \
    "KAFKA_BROKERS=${KAFKA_BROKERS:-$OUR_KAFKA}" \
    "REDIS_URL=$(redact "${REDIS_URL:-$OUR_REDIS}")" \
    "AWS_ENDPOINT_URL_SESV2=${AWS_ENDPOINT_URL_SESV2:-$OUR_SES}" \
    "REDIS_CLUSTER_URL=$(redact "${REDIS_CLUSTER_URL:-$OUR_REDIS_CLUSTER}")" \
    "AWS_ENDPOINT_URL_S3=${AWS_ENDPOINT_URL_S3:-$OUR_MOTO}" \
    "AWS_ENDPOINT_URL_SNS=${AWS_ENDPOINT_URL_SNS:-${AWS_ENDPOINT_URL_S3:-$OUR_MOTO}}" \
    "AWS_ENDPOINT_URL_SQS=${AWS_ENDPOINT_URL_SQS:-${AWS_ENDPOINT_URL_S3:-$OUR_MOTO}}" \
    "AWS_REGION=${AWS_REGION:-us-east-1}" \
    "AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}" \
    "AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}" \
    "SENDONCE_TEST_SERVICES=1"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
  # The secured endpoints: names and files only, never a password.
  local sec=()
  if ! external KAFKA_BROKERS "$OUR_KAFKA" || [[ -n "${KAFKA_BROKERS_SASL_SSL:-}" ]]; then
    sec+=("KAFKA_BROKERS_SASL_SSL=${KAFKA_BROKERS_SASL_SSL:-$OUR_KAFKA_SASL_SSL}"
      "SENDONCE_TEST_KAFKA_CA_FILE=${SENDONCE_TEST_KAFKA_CA_FILE:-$TLS_CA}"
      "SENDONCE_TEST_KAFKA_USERNAME=${SENDONCE_TEST_KAFKA_USERNAME:-$KAFKA_SASL_USER}"
      "SENDONCE_TEST_KAFKA_PASSWORD_FILE=${SENDONCE_TEST_KAFKA_PASSWORD_FILE:-$KAFKA_SASL_PASSWORD}")
  fi
  if ! external REDIS_URL "$OUR_REDIS" || [[ -n "${REDIS_TLS_URL:-}" ]]; then
    sec+=("REDIS_TLS_URL=$(redact "${REDIS_TLS_URL:-$OUR_REDIS_TLS}")"
      "SENDONCE_TEST_REDIS_CA_FILE=${SENDONCE_TEST_REDIS_CA_FILE:-$TLS_CA}"
      "SENDONCE_TEST_REDIS_PASSWORD_FILE=${SENDONCE_TEST_REDIS_PASSWORD_FILE:-$REDIS_TLS_PASSWORD}")
  fi
  for kv in "${sec[@]}"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
  local v
  for v in REDIS_URL REDIS_TLS_URL REDIS_CLUSTER_URL; do
    if [[ -n "${!v:-}" && "$(redact "${!v}")" != "${!v}" ]]; then
      log "$v holds a password: printed as $(redact "${!v}"); move the password to a file (--redis-password-file)"
    fi
  done
}

# One `up`/`down` at a time (parallel make, CI retries).
lock() {
  mkdir -p "$SVC"
  if command -v flock >/dev/null; then
    # fd 9 holds the lock; every daemon below is started with 9>&- so it does not inherit it.
    exec 9>"$SVC/.lock"
    if ! flock -n 9; then
      log "waiting for another services.sh up/down to finish (lock ${SVC#"$ROOT"/}/.lock)"
      flock -w 300 9 || { log "gave up waiting for the lock after 300s"; exit 1; }
    fi
  fi
}

usage() { echo "usage: $0 up|down|env|status|run CMD [ARG...]" >&2; exit 2; }

# tools_up installs the command-line tools the tests run: promtool and the
# prometheus server (Debian's prometheus package) check the alert rules and
# scrape a real pipeline run. The package's own service is not started.
tools_up() {
  if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    apt_install prometheus prometheus
    # The tests start their own servers on free ports; a server the package
    # may have started despite policy-rc.d is not ours, so it is left alone.
  fi
  command -v promtool >/dev/null || fail prometheus "promtool not found after apt-get install prometheus"
  command -v prometheus >/dev/null || fail prometheus "prometheus not found after apt-get install prometheus"
}

all_up() {
  lock
  choose_ports
  local t0; t0="$(now)"
  redis_up
  redis_cluster_up
  ses_up
  moto_up
  kafka_up
  tools_up
  log "all services up in $(since "$t0")s (state ${SVC#"$ROOT"/})"
}

all_down() {
  lock
  ses_down
  moto_down
  kafka_down
  redis_down
  redis_cluster_down
}

all_status() {
  local rc=0
  kafka_status || rc=1
  redis_status || rc=1
  redis_cluster_status || rc=1
  ses_status || rc=1
  moto_status || rc=1
  return $rc
}

# run_cmd <cmd...>: up, CMD with the env, down on the way out (exit, error,
# Ctrl-C, TERM) unless KEEP_SERVICES=1; the data folders go too.
run_cmd() {
  if [[ "${KEEP_SERVICES:-0}" != 1 ]]; then
    trap run_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
  fi
  all_up
  exec 9>&- # release the lock while CMD runs
  all_status >&2 || { log "a service is not healthy after up"; exit 1; }
  eval "$(print_env)"
  local rc=0
  "$@" || rc=$?
  if [[ "${KEEP_SERVICES:-0}" == 1 ]]; then
    log "KEEP_SERVICES=1: the services of ${SVC#"$ROOT"/} keep running (scripts/services.sh down with SENDONCE_SERVICES_DIR=$SVC stops them)"
  fi
  return $rc
}

run_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  log "stopping the services of ${SVC#"$ROOT"/} (KEEP_SERVICES=1 keeps them for the next run)"
  all_down || true
  rm -rf "$KAFKA_DATA" "$REDIS_DIR/appendonlydir" "$REDIS_DIR"/*.aof "$RCL_DIR" "$PORTS_FILE"
  exit $rc
}

main() {
  [[ $# -ge 1 ]] || usage
  case "$1" in
    up)
      [[ $# -eq 1 ]] || usage
      all_up
      print_env
      ;;
    down)
      [[ $# -eq 1 ]] || usage
      all_down
      ;;
    env) [[ $# -eq 1 ]] || usage; print_env ;;
    status) [[ $# -eq 1 ]] || usage; all_status ;;
    run)
      shift
      [[ $# -ge 1 ]] || usage
      run_cmd "$@"
      ;;
    *) usage ;;
  esac
}

main "$@"
