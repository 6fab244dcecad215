#!/usr/bin/env bash
# Metering throughput against the number of subscriptions (issue 14, item
# 4): BenchmarkSender_Throttled/no-throttle at 1k, 10k, 100k and 1M
# subscriptions, the emulator's throttle off, drawn as
# docs/metering-by-subscriptions.svg. Run from the repository root on a quiet
# machine:
#
#   scripts/metering-by-subscriptions.sh [counts...]
#
# The million takes about ten minutes and 8 GB of memory, most of it the
# emulator's accounts and agreements, held in memory.
set -euo pipefail
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 10000 100000 1000000)
svg=docs/metering-by-subscriptions.svg
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/metering.test" ./internal/metering
echo "subscriptions,records accepted [records/s],calls answered [calls/s]" >"$work/curve.csv"
for n in "${counts[@]}"; do
  (cd internal/metering && MARKETBRIDGE_BENCH_SUBSCRIPTIONS="$n" /usr/bin/time -v "$work/metering.test" -test.run '^$' \
    -test.bench 'Sender_Throttled/no-throttle' -test.benchtime 1x -test.timeout 60m 2>&1) >"$work/run-$n.log"
  line=$(grep -E '^BenchmarkSender_Throttled/no-throttle' "$work/run-$n.log")
  rss=$(awk '/Maximum resident/ {print int($6/1024)}' "$work/run-$n.log")
  records=$(awk '{for (i = 1; i < NF; i++) if ($(i+1) == "records/s") print $i}' <<<"$line")
  calls=$(awk '{for (i = 1; i < NF; i++) if ($(i+1) == "calls/s") print $i}' <<<"$line")
  echo "$n subscriptions: $line; peak RSS ${rss} MB"
  echo "$n,$records,$calls" >>"$work/curve.csv"
done
cp "$work/curve.csv" "${svg%.svg}.csv"
go run ./cmd/perfchart -logx -in "$work/curve.csv" -out "$svg" \
  -title "Metering to the emulator, SQLite, throttle off: throughput by subscriptions"
echo "wrote $svg and ${svg%.svg}.csv"
