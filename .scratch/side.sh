#!/bin/bash
# Side by side: previous commit (/tmp/prev) vs this one, interleaved.
export BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
for round in 1 2 3; do
  for tree in /tmp/prev /work/main; do
    echo "drain $tree $(cd $tree && node bench/scenario.js drain pg-supervisor '{"n":100000}')"
  done
done
for round in 1 2 3; do
  for tree in /tmp/prev /work/main; do
    echo "latency $tree $(cd $tree && node bench/scenario.js latency pg-supervisor '{"samples":500,"gapMs":20,"warmup":2000}')"
  done
done
for round in 1 2; do
  for tree in /tmp/prev /work/main; do
    echo "insert $tree $(cd $tree && node bench/scenario.js insert pg-supervisor '{"n":100000}')"
  done
done
for tree in /tmp/prev /work/main; do
  echo "idle $tree $(cd $tree && node bench/scenario.js idle pg-supervisor '{"seconds":20}')"
done
echo "limited /work/main $(cd /work/main && node bench/scenario.js limited pg-supervisor '{"n":20000,"supervisors":2,"limit":50,"rounds":3}')"
