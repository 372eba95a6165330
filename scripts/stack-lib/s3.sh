# shellcheck shell=bash
# scripts/stack-lib/s3.sh: versitygw (S3 gateway, posix backend), built from the Go proxy.

install_s3() {
  local out="$BIN/versitygw-$VERSITYGW_VERSION"
  [[ -x "$out" ]] && return 0
  need_cmd go "Go builds versitygw from the Go module proxy"
  say "building versitygw $VERSITYGW_VERSION from the Go module proxy"
  mkdir -p "$BIN/gobin"
  GOBIN="$BIN/gobin" CGO_ENABLED=0 go install -trimpath "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" \
    >"$BIN/versitygw-build.log" 2>&1 || { tail -n 30 "$BIN/versitygw-build.log" >&2; die "could not build versitygw"; }
  mv "$BIN/gobin/versitygw" "$out"
}

s3_endpoint() { echo "http://127.0.0.1:$S3_PORT"; }

s3_healthy() { curl -fsS -m 2 "$(s3_endpoint)/health" >/dev/null 2>&1; }

start_s3() {
  pid_of s3 >/dev/null && return 0
  port_open "$S3_PORT" && die "port $S3_PORT is taken by a process this script did not start"
  mkdir -p "$DATA/s3/root" "$DATA/s3/versions" "$DATA/s3/iam"
  start_proc s3 "$BIN/versitygw-$VERSITYGW_VERSION" --port "127.0.0.1:$S3_PORT" \
    --access "$S3_ACCESS" --secret "$S3_SECRET" --health /health --quiet \
    --iam-dir "$DATA/s3/iam" posix --versioning-dir "$DATA/s3/versions" "$DATA/s3/root"
}

ensure_bucket() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' -m 5 --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$S3_ACCESS:$S3_SECRET" -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" -X PUT "$(s3_endpoint)/$S3_BUCKET_NAME")"
  case "$code" in 200|409) ;; *) fail_start s3 "could not create bucket $S3_BUCKET_NAME (HTTP $code)";; esac
}
