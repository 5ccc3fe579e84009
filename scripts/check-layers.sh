#!/usr/bin/env bash
# Fails when a folder of src/ includes a header of a folder above it. The order follows a
# question's way through the system; a folder may include its own and the ones before it.
# The last two, eval and server, are peers (two front-ends over the library): neither
# includes the other; the CLI (cli/) wires them.
set -euo pipefail
cd "$(dirname "$0")/.."
ORDER=(core api answers data llama embedding retrieval bank selection router aggregation posterior pipeline
       generation grading prior eval server)
rank() { local i; for i in "${!ORDER[@]}"; do [ "${ORDER[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
bad=0
for file in $(find src -name '*.h' -o -name '*.cpp' | sort); do
  folder=$(echo "$file" | cut -d/ -f2)
  mine=$(rank "$folder")
  [ "$mine" -lt 0 ] && { echo "layers: $file: folder '$folder' is not in the order"; bad=1; continue; }
  while read -r inc; do
    theirs=$(rank "${inc%%/*}")
    if [ "$theirs" -gt "$mine" ] || { [ "$folder" = server ] && [ "${inc%%/*}" = eval ]; }; then
      echo "layers: $file includes \"$inc\" from a higher folder"; bad=1
    fi
  done < <(sed -n 's/^#include "\([a-z_]*\/[^"]*\)".*/\1/p' "$file")
done
[ "$bad" -eq 0 ] && echo "layers: every include points down (${#ORDER[@]} folders)"
exit "$bad"
