#!/usr/bin/env bash
# Smoke test of the local stack, for a machine with a Docker engine (CI machines have none).
#
#   scripts/smoke.sh                 # build, start, run every case, tear down
#   SMOKE_KEEP=1 scripts/smoke.sh    # leave the stack running afterwards, to look around
#
# It starts its own compose project (llm-worker-smoke) on its own host ports (18080 Camunda,
# 19090 Prometheus, 13000 Grafana) with two worker replicas, deciding from the rules alone
# (DECISION_STRATEGY=rules, whatever .env says) and the simulated payment gateway
# (PAYMENT_SIMULATED=true: no money moves); other settings in .env still reach the workers, so
# keep the default MANUAL_REVIEW_THRESHOLD and no PAYMENT_GATEWAY_URL (a worker refuses both
# gateways at once), or move .env aside, for the expected outcomes. Then it:
#   1. waits (bounded) until the engine answers, the deploy job has succeeded, the process
#      and the demo groups exist, and every worker is healthy and ready;
#   2. runs each case in docker/smoke/*.json: starts a ticket-refund instance through the
#      REST API, completes the user tasks the case names (as an operator or manager would in
#      Tasklist), waits for the instance to end, and checks the end event, the activities
#      passed and the process variables in the engine's history;
#      cases with "paymentFailureRate" run afterwards, with the workers recreated at that
#      PAYMENT_FAILURE_RATE (payment retries with back-off, then the operator task);
#   3. checks that the workers' /metrics count the decisions and say the gateway is the
#      simulated one, Prometheus scrapes both
#      replicas, and Grafana shows the provisioned dashboard without a login;
#   4. tears everything down (trap), printing the logs first if anything failed.
# Needs docker (with compose v2.24+), curl and jq; runs on bash 3.2 (macOS) too.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PROJECT="${SMOKE_PROJECT:-llm-worker-smoke}"
REPLICAS="${SMOKE_REPLICAS:-2}"
STARTUP_TIMEOUT_S="${SMOKE_STARTUP_TIMEOUT_S:-300}"
CASE_TIMEOUT_S="${SMOKE_CASE_TIMEOUT_S:-240}"
export CAMUNDA_PORT="${SMOKE_CAMUNDA_PORT:-18080}"
export PROMETHEUS_PORT="${SMOKE_PROMETHEUS_PORT:-19090}"
export GRAFANA_PORT="${SMOKE_GRAFANA_PORT:-13000}"
export DECISION_STRATEGY=rules
export PAYMENT_SIMULATED=true
export PAYMENT_FAILURE_RATE=0

ENGINE="http://localhost:${CAMUNDA_PORT}/engine-rest"
FAILED=0

log() { printf '[smoke %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() {
  log "FAIL: $*"
  FAILED=1
  exit 1
}

compose() { docker compose --project-name "$PROJECT" "$@"; }

cleanup() {
  local status=$?
  if [[ $status -ne 0 || $FAILED -ne 0 ]]; then
    log "something failed: the stack's last log lines follow"
    compose logs --no-color --tail=200 || true
  fi
  if [[ -n "${SMOKE_KEEP:-}" ]]; then
    log "SMOKE_KEEP is set: the stack stays up (docker compose -p $PROJECT down --volumes)"
  else
    compose down --volumes --remove-orphans >/dev/null 2>&1 || true
  fi
  if [[ $status -eq 0 && $FAILED -eq 0 ]]; then
    log "PASSED"
  fi
  exit "$status"
}

# wait_until SECONDS DESCRIPTION COMMAND...: runs COMMAND every 2 s until it succeeds. A
# COMMAND that returns $HOPELESS has seen something that will not get better: stop at once.
HOPELESS=99
wait_until() {
  local limit=$1 what=$2 status
  shift 2
  local deadline=$((SECONDS + limit))
  while true; do
    status=0
    "$@" >/dev/null 2>&1 || status=$?
    if ((status == 0)); then
      log "ok: $what"
      return 0
    fi
    if ((status == HOPELESS)); then
      fail "$what: $("$@" 2>&1 | tail -n 20)"
    fi
    if ((SECONDS >= deadline)); then
      fail "gave up after ${limit}s waiting for: $what"
    fi
    sleep 2
  done
}

get() { curl --fail --silent --show-error --max-time 10 "$@"; }
post_json() {
  curl --fail --silent --show-error --max-time 10 \
    -H 'Content-Type: application/json' -X POST --data "$2" "$1"
}

for tool in docker curl jq; do
  command -v "$tool" >/dev/null || { echo "smoke.sh needs $tool" >&2; exit 2; }
done
docker compose version >/dev/null 2>&1 || { echo "smoke.sh needs docker compose v2" >&2; exit 2; }

trap cleanup EXIT

# ---- 1. the stack comes up -------------------------------------------------------------------

log "building and starting project $PROJECT with $REPLICAS workers"
compose up --detach --build --scale "llm-worker=$REPLICAS"

engine_answers() { get "$ENGINE/engine" | jq -e 'length > 0'; }
deploy_succeeded() {
  local id state
  id=$(compose ps --all --quiet deploy-bpmn)
  [[ -n "$id" ]] || return 1
  state=$(docker inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$id")
  if [[ "$state" == exited* && "$state" != "exited 0" ]]; then
    echo "the deploy job failed ($state):"
    docker logs --tail 20 "$id" 2>&1
    return "$HOPELESS"
  fi
  [[ "$state" == "exited 0" ]]
}
process_deployed() { get "$ENGINE/process-definition/key/ticket-refund" | jq -e '.id'; }
demo_users_exist() {
  get "$ENGINE/user?memberOfGroup=refund-operators" | jq -e 'length > 0' &&
    get "$ENGINE/user?memberOfGroup=refund-managers" | jq -e 'length > 0' &&
    get "$ENGINE/user?memberOfGroup=refund-auditors" | jq -e 'length > 0'
}
tasklist_filter_exists() { get "$ENGINE/filter?resourceType=Task" | jq -e 'length > 0'; }

worker_ids() { compose ps --quiet llm-worker; }
workers_healthy() {
  local ids id healthy=0
  ids=$(worker_ids)
  for id in $ids; do
    [[ "$(docker inspect --format '{{.State.Health.Status}}' "$id")" == healthy ]] || return 1
    healthy=$((healthy + 1))
  done
  ((healthy == REPLICAS))
}
worker_address() { compose port --index "$1" llm-worker 9464; }
workers_ready() {
  local index
  for ((index = 1; index <= REPLICAS; index++)); do
    get "http://$(worker_address "$index")/readyz" || return 1
  done
}

wait_until "$STARTUP_TIMEOUT_S" "the engine's REST API answers" engine_answers
wait_until "$STARTUP_TIMEOUT_S" "the deploy job succeeded" deploy_succeeded
wait_until 30 "ticket-refund is deployed" process_deployed
wait_until 30 "the demo operators, managers and auditors exist" demo_users_exist
wait_until 30 "Tasklist has a task filter" tasklist_filter_exists
wait_until "$STARTUP_TIMEOUT_S" "$REPLICAS workers are healthy" workers_healthy
wait_until 60 "every worker is ready (/readyz)" workers_ready

# ---- 2. one instance per route ---------------------------------------------------------------

# history_value INSTANCE NAME: the variable's value as JSON, from the engine's history.
history_value() {
  get "$ENGINE/history/variable-instance?processInstanceId=$1&variableName=$2" | jq -c '.[0].value'
}
open_task() {
  get "$ENGINE/task?processInstanceId=$1&taskDefinitionKey=$2" | jq -er '.[0].id'
}
instance_completed() {
  get "$ENGINE/history/process-instance/$1" | jq -e '.state == "COMPLETED"'
}

run_case() {
  local file=$1 name instance step task_key task_id variables expected actual end visited
  name=$(basename "$file" .json)
  log "case $name: $(jq -r '.route' "$file")"
  instance=$(post_json "$ENGINE/process-definition/key/ticket-refund/start" "$(jq -c '.start' "$file")" |
    jq -r '.id') || fail "$name: the engine refused to start the instance"
  [[ -n "$instance" && "$instance" != null ]] || fail "$name: the instance did not start"

  while IFS= read -r step; do
    [[ -n "$step" ]] || continue
    task_key=$(jq -r '.task' <<<"$step")
    wait_until "$CASE_TIMEOUT_S" "$name: user task $task_key is open" open_task "$instance" "$task_key"
    task_id=$(open_task "$instance" "$task_key")
    # The audit waits beside a refund that has already ended: the task never holds it up.
    while IFS= read -r visited; do
      [[ -n "$visited" ]] || continue
      get "$ENGINE/history/activity-instance?processInstanceId=$instance&activityId=$visited&finished=true" |
        jq -e 'length > 0' >/dev/null || fail "$name: $visited was not reached before $task_key"
    done < <(jq -r '.reachedBefore[]?' <<<"$step")
    variables=$(jq -c '{variables: .variables}' <<<"$step")
    post_json "$ENGINE/task/$task_id/complete" "$variables" >/dev/null ||
      fail "$name: the engine refused to complete $task_key"
    log "$name: completed $task_key"
  done < <(jq -c '.complete[]' "$file")

  wait_until "$CASE_TIMEOUT_S" "$name: the instance ended" instance_completed "$instance"

  # An audited refund ends twice (Refunded, then Audited): every end reached, sorted.
  expected=$(jq -r '[.expect.endEvent] + (.expect.alsoEnded // []) | sort | join(",")' "$file")
  end=$(get "$ENGINE/history/activity-instance?processInstanceId=$instance&activityType=noneEndEvent" | jq -r '[.[].activityId] | sort | join(",")')
  [[ "$end" == "$expected" ]] || fail "$name: ended at '$end', expected '$expected'"

  while IFS= read -r visited; do
    get "$ENGINE/history/activity-instance?processInstanceId=$instance&activityId=$visited" |
      jq -e 'length > 0' >/dev/null || fail "$name: never passed $visited"
  done < <(jq -r '.expect.visits[]' "$file")

  while IFS=$'\t' read -r variable expected; do
    actual=$(history_value "$instance" "$variable")
    jq -e --argjson a "$actual" --argjson e "$expected" -n '$a == $e' >/dev/null ||
      fail "$name: $variable is $actual, expected $expected"
  done < <(jq -r '.expect.variables | to_entries[] | [.key, (.value | tojson)] | @tsv' "$file")

  # Metrics the case must raise on the workers (summed over the replicas), e.g. an audit's
  # verdict, read from the engine's history every AUDIT_POLL_INTERVAL_S (60 s by default).
  while IFS=$'\t' read -r series minimum; do
    [[ -n "$series" ]] || continue
    wait_until 150 "$name: the workers count $series" metric_at_least "$series" "$minimum"
  done < <(jq -r '.expect.metricsAtLeast // {} | to_entries[] | [.key, .value] | @tsv' "$file")

  log "ok: case $name ended at $end with the expected variables"
}

# metric_at_least SERIES MIN: the sample SERIES (name{labels} as exposed) summed over the
# replicas' /metrics is at least MIN.
metric_at_least() {
  local index total=0 count
  for ((index = 1; index <= REPLICAS; index++)); do
    count=$(get "http://$(worker_address "$index")/metrics" |
      awk -v series="$1" '$1 == series { sum += $NF } END { print int(sum) }')
    total=$((total + count))
  done
  ((total >= $2))
}

# Cases that need failing payments run last, with the workers recreated for them.
CASES=()
while IFS= read -r entry; do
  CASES+=("$entry")
done < <(for f in docker/smoke/*.json; do
  printf '%s\t%s\n' "$(jq -r '.paymentFailureRate // 0' "$f")" "$f"
done | sort -n)
[[ ${#CASES[@]} -gt 0 ]] || fail "no cases in docker/smoke/"

for entry in "${CASES[@]}"; do
  rate=${entry%%$'\t'*}
  file=${entry#*$'\t'}
  if [[ "$rate" != "$PAYMENT_FAILURE_RATE" ]]; then
    log "recreating the workers with PAYMENT_FAILURE_RATE=$rate"
    export PAYMENT_FAILURE_RATE="$rate"
    compose up --detach --no-deps --scale "llm-worker=$REPLICAS" llm-worker
    wait_until "$STARTUP_TIMEOUT_S" "$REPLICAS workers are healthy again" workers_healthy
    wait_until 60 "every worker is ready again" workers_ready
  fi
  run_case "$file"
done

# ---- 3. metrics, Prometheus, Grafana ---------------------------------------------------------

decisions_counted() {
  local index total=0 count
  for ((index = 1; index <= REPLICAS; index++)); do
    count=$(get "http://$(worker_address "$index")/metrics" |
      awk '/^refund_requests_total\{/ { sum += $NF } END { print int(sum) }')
    total=$((total + count))
  done
  ((total > 0))
}
payments_said_simulated() {
  local index metrics
  for ((index = 1; index <= REPLICAS; index++)); do
    metrics=$(get "http://$(worker_address "$index")/metrics") || return 1
    grep -q '^llm_worker_payment_gateway_info{environment="demo",gateway="simulated"} 1' \
      <<<"$metrics" || return 1
  done
}
prometheus_scrapes_every_worker() {
  get --get "http://localhost:${PROMETHEUS_PORT}/api/v1/query" --data-urlencode 'query=count(up{job="llm-worker"} == 1)' |
    jq -e --argjson n "$REPLICAS" '(.data.result[0].value[1] // "0" | tonumber) == $n'
}
grafana_shows_the_dashboard() {
  local uid
  uid=$(jq -r '.uid' grafana/dashboards/llm-worker.json)
  get "http://localhost:${GRAFANA_PORT}/api/dashboards/uid/$uid" | jq -e '.dashboard.uid'
}

wait_until 30 "the workers' /metrics count the decisions" decisions_counted
wait_until 30 "the workers' /metrics say the payments are simulated" payments_said_simulated
wait_until 90 "Prometheus scrapes all $REPLICAS workers" prometheus_scrapes_every_worker
wait_until 90 "Grafana shows the dashboard to anonymous viewers" grafana_shows_the_dashboard
