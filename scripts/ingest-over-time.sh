#!/usr/bin/env bash
# Batched ingest of many new events on SQLite (default 100 million), with
# the rate and the resident size every 5 s, drawn as docs/ingest-over-time.svg
# (issue 14). Run from the repository root on a quiet machine:
#
#   scripts/ingest-over-time.sh [events] [out.svg]
#
# Needs about 150 bytes of disk per event in $TMPDIR (15 GB for 100
# million) and, at 150-170k events/s on two cores, ten to fifteen minutes.
set -euo pipefail
events="${1:-100000000}"
svg="${2:-docs/ingest-over-time.svg}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/web.test" ./internal/web
(cd "$work" && /usr/bin/time -v ./web.test -test.run '^$' -test.bench 'Ingest/sqlite/http-batched' \
  -test.benchtime "${events}x" -ingest.trace "$work/trace.csv" 2>&1) | tee "$work/bench.log" |
  grep -E 'Benchmark|Maximum resident|Elapsed|FAIL|--- '
cp "$work/trace.csv" "${svg%.svg}.csv"
go run ./cmd/perfchart -in "$work/trace.csv" -out "$svg" \
  -title "Batched ingest of ${events} new events, SQLite: rate and resident size"
echo "wrote $svg and ${svg%.svg}.csv"
