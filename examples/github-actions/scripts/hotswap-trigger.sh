#!/usr/bin/env bash
# hotswap-trigger.sh — deploy to, or roll back, a hotswap daemon from CI and
# wait until the release has settled, so the CI job goes red exactly when the
# deploy failed. Both example workflows call it: the signing and the waiting
# are written once, here.
#
#   hotswap-trigger.sh deploy   SERVICE VERSION [--note T] [--commit SHA] [--author NAME] [--delivery ID] [--no-wait]
#   hotswap-trigger.sh rollback SERVICE [VERSION] [--note T] [--no-wait]
#   hotswap-trigger.sh wait     RELEASE_ID
#   hotswap-trigger.sh releases SERVICE [--limit N]
#
# Environment:
#   HOTSWAP_URL             base URL of the daemon's control.listen, e.g.
#                           https://deploy.example.com (https:// is assumed
#                           when no scheme is given)
#   HOTSWAP_WEBHOOK_SECRET  deploy: the webhooks.generic secret (HMAC key)
#   HOTSWAP_TOKEN           a control.tokens bearer token; needed by rollback,
#                           wait and releases, and by deploy to wait
#   HOTSWAP_TIMEOUT         seconds to wait for the release to settle (900)
#   HOTSWAP_RETRIES         retries of a request that got no answer or a
#                           transient error (3; never for rollback requests)
#
# deploy sends the generic webhook: POST /hooks/generic/SERVICE with
# X-Hotswap-Timestamp, X-Hotswap-Signature = "sha256=" +
# hex(HMAC-SHA256(secret, timestamp + "." + body)) and X-Hotswap-Delivery.
# The delivery id (default: $GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT) makes a
# retried request the same deploy, never a second one. rollback calls
# POST /v1/services/SERVICE/rollback with the token (empty VERSION = the
# previous good release). Both then follow GET /v1/deploys/ID/events until
# the daemon says the release is finished (a bake window that may still roll
# it back included), and read the verdict from GET /v1/deploys/ID.
#
# Exit codes follow the hotswap CLI: 0 live · 1 the release ran and failed,
# the previous version keeps serving · 2 invalid input or request · 3 another
# deploy of the service is running · 4 unknown service, release or version ·
# 5 daemon unreachable · 6 signature or token rejected · 7 state does not
# allow it (e.g. already live) · 8 gave up waiting (it continues on the
# daemon: `hotswap wait ID`).
#
# Needs bash, curl, openssl and jq (all present on GitHub's ubuntu runners).
# Secrets never reach the log; the bearer token is handed to curl through a
# file descriptor, not argv. openssl takes the HMAC key as an argument (it
# has no other way), visible only to processes on the runner for the
# milliseconds it runs.

{ set +x; } 2>/dev/null # never trace: the secrets live in variables
set -euo pipefail

readonly E_FAILED=1 E_USAGE=2 E_BUSY=3 E_NOTFOUND=4 E_UNREACHABLE=5 E_AUTH=6 E_CONFLICT=7 E_TIMEOUT=8

usage() { sed -n '7,10s/^#   //p' "$0"; }

# annotate prints a GitHub Actions annotation (error, warning, notice) so
# the outcome shows on the run's summary page; elsewhere it does nothing.
annotate() {
	[[ ${GITHUB_ACTIONS:-} == true ]] || return 0
	local msg=${2//'%'/'%25'}
	msg=${msg//$'\r'/'%0D'}
	msg=${msg//$'\n'/'%0A'}
	printf '::%s::%s\n' "$1" "$msg"
}

die() {
	local code=$1
	shift
	printf 'hotswap: %s\n' "$*" >&2
	annotate error "$*"
	exit "$code"
}

# output records key=value for later workflow steps (steps.ID.outputs.key).
output() {
	if [[ -n ${GITHUB_OUTPUT:-} ]]; then printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"; fi
}

summary() {
	if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then printf '%s\n' "$*" >>"$GITHUB_STEP_SUMMARY"; fi
}

for tool in curl openssl jq; do
	command -v "$tool" >/dev/null || die "$E_USAGE" "$tool is required but not installed"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# set_base sets BASE, the daemon's URL without a trailing slash.
set_base() {
	local u=${HOTSWAP_URL:-}
	[[ -n $u ]] || die "$E_USAGE" "HOTSWAP_URL is not set (the daemon's control.listen address)"
	[[ $u == *://* ]] || u="https://$u"
	[[ $u == http://* || $u == https://* ]] || die "$E_USAGE" "HOTSWAP_URL must be an http or https URL"
	BASE=${u%/}
}

need_token() {
	[[ -n ${HOTSWAP_TOKEN:-} ]] || die "$E_USAGE" "HOTSWAP_TOKEN is not set (a control.tokens bearer token)"
}

# auth_header writes the Authorization header for curl's -H @FILE, read
# through a process substitution so the token never appears in argv.
auth_header() { printf 'Authorization: Bearer %s\n' "$HOTSWAP_TOKEN"; }

# request METHOD PATH [CURL_ARGS...] sends one request; the status code is
# left in $status and the body in $tmp/body. Only failing to get any answer
# is fatal here.
request() {
	local method=$1 path=$2
	shift 2
	status=$(curl -sS -o "$tmp/body" -w '%{http_code}' -X "$method" \
		--connect-timeout 10 --max-time 60 "$@" "$BASE$path") ||
		die "$E_UNREACHABLE" "no answer from $BASE$path (curl exit $?)"
}

# reject turns an error answer into a message with a hint and the exit code
# the CLI would use. what is "webhook" or "api": the fixes differ.
reject() {
	local what=$1 action=$2 msg code hint=""
	msg=$(jq -r '.error // empty' "$tmp/body" 2>/dev/null) || msg=""
	[[ -n $msg ]] || msg=$(head -c 300 "$tmp/body" | tr -d '\r')
	code=$(jq -r '.code // empty' "$tmp/body" 2>/dev/null) || code=""
	local exit_code=$E_FAILED
	case $status in
	400 | 403 | 405 | 413) exit_code=$E_USAGE ;;
	401)
		exit_code=$E_AUTH
		if [[ $what == webhook ]]; then
			hint=" (check that HOTSWAP_WEBHOOK_SECRET is the service's webhooks.generic secret and that the runner's clock is right: the window is 5 minutes)"
		else
			hint=" (check that HOTSWAP_TOKEN is one of the daemon's control.tokens)"
		fi
		;;
	404)
		exit_code=$E_NOTFOUND
		[[ $what == webhook ]] && hint=" (unknown service, or it has no webhooks.generic secret)"
		;;
	409)
		exit_code=$E_CONFLICT
		if [[ $code == busy ]]; then exit_code=$E_BUSY; fi
		;;
	000 | 502 | 503 | 504) exit_code=$E_UNREACHABLE ;;
	esac
	die "$exit_code" "$action refused: HTTP $status: $msg$hint"
}

# wait_release follows release $1 until the daemon has finished with it,
# printing each step as it happens, then exits with the verdict.
wait_release() {
	local id=$1 timeout=${HOTSWAP_TIMEOUT:-900}
	[[ $timeout =~ ^[0-9]+$ ]] || die "$E_USAGE" "HOTSWAP_TIMEOUT must be a number of seconds"
	need_token
	request GET "/v1/deploys/$id" -H @<(auth_header) "${RETRY[@]}"
	[[ $status == 200 ]] || reject api "wait for release #$id"

	local deadline=$((SECONDS + timeout)) after=0 settled="" out kind a b c d left mark
	printf 'following release #%d\n' "$id"
	while [[ -z $settled ]]; do
		left=$((deadline - SECONDS))
		if ((left <= 0)); then
			die "$E_TIMEOUT" "release #$id has not settled after ${timeout}s; it goes on on the daemon: hotswap wait $id"
		fi
		# The stream ends by itself once the release is settled and no
		# longer running; a dropped connection is resumed after the last
		# event seen.
		while IFS= read -r line; do
			[[ -n $line && $line != '{}' ]] || continue
			out=$(jq -r 'if .event then ["event", .event.id, .event.level, .event.step, .event.message]
				elif .release then ["release", .release.state, "", "", ""]
				elif .error then ["error", .error, "", "", ""]
				else ["skip", "", "", "", ""] end | map(tostring) | @tsv' <<<"$line" 2>/dev/null) || continue
			IFS=$'\t' read -r kind a b c d <<<"$out"
			case $kind in
			event)
				after=$a
				mark=" "
				[[ $b == warn ]] && mark="!"
				[[ $b == error ]] && mark="✗"
				printf '%s %5ss  %-8s %s\n' "$mark" "$((SECONDS - deadline + timeout))" "$c" "${d//\\n/$'\n'                   }"
				;;
			release) settled=$a ;;
			error) die "$E_FAILED" "following release #$id: $a" ;;
			esac
		done < <(curl -sS -N --connect-timeout 10 --max-time "$((left < 300 ? left : 300))" \
			-H @<(auth_header) "$BASE/v1/deploys/$id/events?follow=1&after=$after" || true)
		[[ -n $settled ]] || sleep 2
	done

	request GET "/v1/deploys/$id" -H @<(auth_header) "${RETRY[@]}"
	[[ $status == 200 ]] || reject api "read release #$id"
	local state service version rkind took err
	IFS=$'\t' read -r state service version rkind took < <(jq -r '.release | [.state, .service, .version, .kind, .duration_ms] | map(tostring | if . == "" then "-" else . end) | @tsv' "$tmp/body")
	err=$(jq -r '.release.error // empty' "$tmp/body")
	output release_id "$id"
	output state "$state"
	output version "$version"
	case $state in
	live)
		printf '✓ %s %s is live (%s took %sms, release #%s)\n' "$service" "$version" "$rkind" "$took" "$id"
		summary "✓ **$service $version** is live ($rkind, release #$id, ${took}ms)"
		exit 0
		;;
	warm | retired)
		printf '✓ %s %s went live (release #%s) and has since been replaced by a newer release\n' "$service" "$version" "$id"
		summary "✓ **$service $version** went live (release #$id), since replaced"
		exit 0
		;;
	superseded)
		printf '• %s %s was superseded by a newer version queued behind it (release #%s); that job reports the outcome\n' "$service" "$version" "$id"
		annotate warning "$service $version was superseded by a newer version before it started"
		summary "• **$service $version** superseded by a newer version (release #$id)"
		exit 0
		;;
	esac
	printf '✗ %s %s %s: %s (release #%s); the previous version keeps serving\n' "$rkind" "$service" "$version" "$state" "$id" >&2
	[[ -z $err ]] || printf '%s\n' "$err" | sed 's/^/  /' >&2
	summary "✗ **$rkind $service $version**: $state (release #$id)"
	annotate error "$rkind $service $version: $state${err:+: ${err%%$'\n'*}}"
	exit "$E_FAILED"
}

deploy() {
	local service=$1 version=$2 note=$3 commit=$4 author=$5 delivery=$6 nowait=$7
	local secret=${HOTSWAP_WEBHOOK_SECRET:-}
	[[ -n $secret ]] || die "$E_USAGE" "HOTSWAP_WEBHOOK_SECRET is not set (the webhooks.generic secret)"
	if [[ -n $delivery && ! $delivery =~ ^[A-Za-z0-9._:-]{1,128}$ ]]; then
		die "$E_USAGE" "delivery id must be 1-128 of A-Z a-z 0-9 . _ : -"
	fi

	local body ts sig
	body=$(jq -nc --arg version "$version" --arg note "$note" --arg commit "$commit" --arg author "$author" \
		'{version: $version, note: $note, commit: $commit, author: $author}')
	printf '%s' "$body" >"$tmp/request"
	ts=$(date +%s)
	# The exact bytes sent are the bytes signed: "<timestamp>.<body>".
	sig=$({ printf '%s.' "$ts" && cat "$tmp/request"; } |
		openssl dgst -sha256 -hmac "$secret" -binary | od -An -vtx1 | tr -d ' \n')
	[[ ${#sig} == 64 ]] || die "$E_FAILED" "could not compute the signature with openssl"

	local headers=(-H 'Content-Type: application/json' -H "X-Hotswap-Timestamp: $ts" -H "X-Hotswap-Signature: sha256=$sig")
	[[ -z $delivery ]] || headers+=(-H "X-Hotswap-Delivery: $delivery")
	# Retrying is safe: the same delivery id (and the same signature) is
	# answered with the release the first attempt created.
	request POST "/hooks/generic/$service" "${headers[@]}" --data-binary @"$tmp/request" "${RETRY[@]}"
	[[ $status == 202 ]] || reject webhook "deploy $service $version"

	local id dup
	id=$(jq -r '.id' "$tmp/body")
	dup=$(jq -r '.duplicate' "$tmp/body")
	[[ $id =~ ^[0-9]+$ ]] || die "$E_FAILED" "unexpected webhook answer: $(head -c 300 "$tmp/body")"
	if [[ $dup == true ]]; then
		printf 'deploy %s %s: this request (delivery %s) was already received: release #%s\n' "$service" "$version" "${delivery:--}" "$id"
	else
		printf 'deploy %s %s accepted: release #%s\n' "$service" "$version" "$id"
	fi
	output release_id "$id"
	if [[ -n $nowait ]]; then return 0; fi
	if [[ -z ${HOTSWAP_TOKEN:-} ]]; then
		printf 'not waiting: set HOTSWAP_TOKEN to follow the deploy (or run: hotswap wait %s)\n' "$id"
		annotate warning "deploy $service $version queued as release #$id; not followed (no HOTSWAP_TOKEN)"
		return 0
	fi
	wait_release "$id"
}

rollback() {
	local service=$1 version=$2 note=$3 nowait=$4
	need_token
	local body
	body=$(jq -nc --arg version "$version" --arg note "$note" \
		'{version: $version, note: $note} | with_entries(select(.value != ""))')
	printf '%s' "$body" >"$tmp/request"
	# No retry: a rollback request carries no idempotency key, and a second
	# "previous good release" would go one release further back.
	request POST "/v1/services/$service/rollback" -H @<(auth_header) \
		-H 'Content-Type: application/json' --data-binary @"$tmp/request"
	[[ $status == 202 ]] || reject api "rollback $service${version:+ to $version}"
	local id target
	id=$(jq -r '.release.id' "$tmp/body")
	target=$(jq -r '.release.version' "$tmp/body")
	printf 'rollback %s to %s accepted: release #%s\n' "$service" "$target" "$id"
	output release_id "$id"
	if [[ -n $nowait ]]; then return 0; fi
	wait_release "$id"
}

releases() {
	local service=$1 limit=$2
	need_token
	request GET "/v1/services/$service/releases?limit=$limit" -H @<(auth_header) "${RETRY[@]}"
	[[ $status == 200 ]] || reject api "list releases of $service"
	printf '%-6s %-28s %-12s %-9s %-20s %-14s %s\n' ID VERSION STATE KIND CREATED BY NOTE
	jq -r '.[] | [.id, .version, .state, .kind, (.created_at[0:19] | sub("T"; " ")),
		(if .source == "webhook" then (.author // .actor // "webhook") else (.actor // .source) end),
		(.note // "" | gsub("[\t\n]"; " "))] | map(tostring | if . == "" then "-" else . end) | @tsv' "$tmp/body" |
		while IFS=$'\t' read -r id version state kind created by note; do
			printf '%-6s %-28s %-12s %-9s %-20s %-14s %s\n' "$id" "$version" "$state" "$kind" "$created" "$by" "$note"
		done
}

main() {
	(($# > 0)) || {
		usage >&2
		exit "$E_USAGE"
	}
	local mode=$1
	shift
	case $mode in
	-h | --help | help)
		usage
		exit 0
		;;
	esac
	local note="" commit=${GITHUB_SHA:-} author=${GITHUB_ACTOR:-} nowait="" limit=10 delivery=""
	if [[ -n ${GITHUB_RUN_ID:-} ]]; then delivery="${GITHUB_RUN_ID}-${GITHUB_RUN_ATTEMPT:-1}"; fi
	local args=()
	while (($# > 0)); do
		case $1 in
		--note | --commit | --author | --delivery | --limit)
			(($# >= 2)) || die "$E_USAGE" "$1 needs a value"
			case $1 in
			--note) note=$2 ;;
			--commit) commit=$2 ;;
			--author) author=$2 ;;
			--delivery) delivery=$2 ;;
			--limit) limit=$2 ;;
			esac
			shift 2
			;;
		--no-wait) nowait=1 && shift ;;
		-h | --help) usage && exit 0 ;;
		--) shift && args+=("$@") && break ;;
		-*) die "$E_USAGE" "unknown option $1" ;;
		*) args+=("$1") && shift ;;
		esac
	done
	set_base
	local retries=${HOTSWAP_RETRIES:-3}
	[[ $retries =~ ^[0-9]+$ ]] || die "$E_USAGE" "HOTSWAP_RETRIES must be a number"
	RETRY=(--retry "$retries" --retry-connrefused)
	local service=${args[0]:-}
	if [[ $mode != wait ]]; then
		[[ $service =~ ^[a-z0-9-]{1,63}$ ]] || die "$E_USAGE" "service name ${service@Q} must be [a-z0-9-]"
	fi
	case $mode in
	deploy)
		((${#args[@]} == 2)) || die "$E_USAGE" "usage: deploy SERVICE VERSION [options]"
		deploy "$service" "${args[1]}" "$note" "$commit" "$author" "$delivery" "$nowait"
		;;
	rollback)
		((${#args[@]} <= 2)) || die "$E_USAGE" "usage: rollback SERVICE [VERSION] [options]"
		rollback "$service" "${args[1]:-}" "$note" "$nowait"
		;;
	wait)
		((${#args[@]} == 1)) && [[ $service =~ ^[0-9]+$ ]] || die "$E_USAGE" "usage: wait RELEASE_ID"
		wait_release "$service"
		;;
	releases)
		((${#args[@]} == 1)) || die "$E_USAGE" "usage: releases SERVICE [--limit N]"
		[[ $limit =~ ^[0-9]+$ ]] || die "$E_USAGE" "--limit must be a number"
		releases "$service" "$limit"
		;;
	*) die "$E_USAGE" "unknown mode ${mode@Q}: deploy, rollback, wait or releases" ;;
	esac
}

main "$@"
