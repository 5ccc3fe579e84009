#!/usr/bin/env bash
# The main job: install, build, and measure SMACS on the recorded results.
# Uses ../shared/data when it is there, else the copy shipped in data/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
DATA=data
[ -d ../shared/data/routerdc ] && DATA=../shared/data
OUT=${OUT:-out}
mkdir -p "$OUT"
SMACS=build/smacs
OPEN_POOL=zero-one-ai/Yi-34B-Chat,mistralai/mixtral-8x7b-chat,meta/llama-2-70b-chat,mistralai/mistral-7b-chat,meta/code-llama-instruct-34b-chat,WizardLM/WizardLM-13B-V1.2
DC_TRAIN=("$DATA"/routerdc/{mmlu,cmmlu,arc_challenge,humaneval}_train.json "$DATA"/routerdc/gsm8k-train.json)
DC_TEST=("$DATA"/routerdc/{mmlu,cmmlu,arc_challenge,humaneval}_test.json "$DATA"/routerdc/gsm8k-test.json)

echo "== RouterDC: 5 tasks, 7 open 7-8B models (parameters fitted on train by CV) =="
$SMACS eval --train "${DC_TRAIN[@]}" --test "${DC_TEST[@]}" --tune \
  --report "$OUT/routerdc.json" --markdown "$OUT/routerdc.md" --plot "$OUT/routerdc.svg"
echo
echo "== RouterBench arc_challenge: pool = the 6 open models; closed models for comparison =="
$SMACS eval --train "$DATA/routerbench/arc_challenge_train.csv" --test "$DATA/routerbench/arc_challenge_test.csv" \
  --pool "$OPEN_POOL" --tune \
  --report "$OUT/routerbench.json" --markdown "$OUT/routerbench.md" --plot "$OUT/routerbench.svg"
echo
echo "== Generalisation: RouterDC leave-one-task-out (bank from the 4 other tasks) =="
$SMACS eval --train "${DC_TRAIN[@]}" --test "${DC_TEST[@]}" --tune --leave-one-task-out \
  --report "$OUT/routerdc_loto.json"
echo
echo "reports and plots are in $OUT/"
