#!/bin/sh
# A tiny job: progress events on stdout, a log line, a JSON result and an artifact.
name=${1:-world}
echo "hello, $name, from job $BERTH_JOB_ID (attempt $BERTH_ATTEMPT)"
for p in 25 50 75 100; do
  echo "{\"berth\":\"progress\",\"percent\":$p,\"message\":\"step $p\"}"
  sleep 0.2
done
echo "a note on stderr" >&2
date > "$BERTH_OUTPUT_DIR/finished-at.txt"
echo "{\"greeting\":\"hello, $name\",\"steps\":4}" > "$BERTH_OUTPUT_DIR/result.json"
