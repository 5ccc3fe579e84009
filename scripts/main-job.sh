#!/usr/bin/env bash
# The main job: install, build, and measure SMACS on the recorded results.
# Uses ../shared/data when it is there, else the copy shipped in data/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh --target smacs  # the tests build with scripts/test.sh
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
ZE_OPEN=Athene-70B,Llama-3.1-405B-Inst@sambanova,Meta-Llama-3-70B-Instruct,Meta-Llama-3-8B-Instruct,Meta-Llama-3.1-70B-Instruct,Meta-Llama-3.1-8B-Instruct,Mistral-Large-2,Phi-3.5-mini-instruct,Qwen2-72B-Instruct,Qwen2-7B-Instruct,Yi-1.5-34B-Chat,Yi-1.5-9B-Chat,deepseek-v2.5-0908,gemma-2-2b-it,gemma-2-9b-it
ZE=("$DATA/zeroeval/gsm" "$DATA/zeroeval/math-l5" "$DATA/zeroeval/crux")
echo "== The open-source collective vs closed models: ZeroEval GSM8K + MATH-L5 + CRUXEval-O, 15 open models =="
echo "   (real responses graded by smacs; 5-fold cross-fitting, parameters tuned inside the folds)"
$SMACS eval --test "${ZE[@]}" --folds 5 --tune --adaptive --mode aggregate --pool "$ZE_OPEN" \
  --report "$OUT/zeroeval.json" --markdown "$OUT/zeroeval.md" --plot "$OUT/zeroeval.svg" \
  --versus-plot "$OUT/zeroeval_versus.svg"
echo
AE=data/alpacaeval/alpacaeval.jsonl.gz  # shipped compressed: 25 of its models, both pools
AE_2024=FuseChat-Gemma-2-9B-Instruct,FuseChat-Qwen-2.5-7B-Instruct,FuseChat-Llama-3.1-8B-Instruct,FuseChat-Llama-3.2-3B-Instruct,FuseChat-Llama-3.2-1B-Instruct,Mixtral-8x7B-Instruct-v0.1_concise,OpenHermes-2.5-Mistral-7B,humpback-llama2-70b,openbuddy-llama2-70b-v10.1,Qwen-14B-Chat,vicuna-13b-v1.5,gemma-7b-it,oasst-rlhf-llama-33b,openbuddy-llama2-13b-v11.1,openbuddy-llama-30b-v7.1
AE_2023=Mixtral-8x7B-Instruct-v0.1_concise,OpenHermes-2.5-Mistral-7B,humpback-llama2-70b,openbuddy-llama2-70b-v10.1,Qwen-14B-Chat,vicuna-13b-v1.5,gemma-7b-it,oasst-rlhf-llama-33b,openbuddy-llama2-13b-v11.1,openbuddy-llama-30b-v7.1,openbuddy-falcon-40b-v9,wizardlm-13b,vicuna-13b,minotaur-13b,nous-hermes-13b
for year in 2024 2023; do
  pool=AE_$year
  echo "== Judged free text: AlpacaEval 2.0, the \"$year\" pool of 15 open models vs closed models =="
  echo "   (GPT-4 Turbo's preference against its own reference; 5 folds, tuned inside the folds)"
  $SMACS eval --test "$AE" --folds 5 --tune --adaptive --no-routers --pool "${!pool}" \
    --report "$OUT/alpacaeval_$year.json" --markdown "$OUT/alpacaeval_$year.md" \
    --versus-plot "$OUT/alpacaeval_${year}_versus.svg"
  echo
done
echo "== ZeroEval ablations (default RPS parameters, 5 folds, no tuning): average of the 3 benchmarks =="
ablation() {  # label, extra flags...
  local label="$1"; shift
  printf "%-28s %s\n" "$label" "$($SMACS eval --test "${ZE[@]}" --folds 5 --pool "$ZE_OPEN" --no-routers "$@" 2>/dev/null |
    awk '$1 == "smacs" && NF == 6 {print "smacs " $5 "   (crux " $2 ", gsm " $3 ", math-l5 " $4 ")"}')"
}
for k in 1 2 3 4 5 6 7; do ablation "k=$k" --k "$k"; done
ablation "k=5, no prior dropping" --k 5 --no-drop
ablation "k=5, no agreement" --k 5 --no-agreement
echo
echo "== Generalisation across benchmarks: a bank of one ZeroEval benchmark answers the other =="
$SMACS eval --train "$DATA/zeroeval/gsm" --test "$DATA/zeroeval/math-l5" --pool "$ZE_OPEN" --tune --no-routers 2>/dev/null |
  awk 'NR <= 11'
$SMACS eval --train "$DATA/zeroeval/math-l5" --test "$DATA/zeroeval/gsm" --pool "$ZE_OPEN" --tune --no-routers 2>/dev/null |
  awk 'NR <= 11'
echo
echo "== Accuracy vs cost: RouterBench ARC-C, all 11 models, escalation to GPT-4 (knobs fitted on train) =="
$SMACS eval --train "$DATA/routerbench/arc_challenge_train.csv" --test "$DATA/routerbench/arc_challenge_test.csv" \
  --tune --adaptive --escalate-to gpt-4-1106-preview --no-routers \
  --report "$OUT/frontier.json" --frontier "$OUT/frontier.svg" 2>/dev/null | sed -n '/^Accuracy vs cost/,$p'
echo
echo "== Accuracy vs cost: RouterBench ARC-C, the 6 open models =="
$SMACS eval --train "$DATA/routerbench/arc_challenge_train.csv" --test "$DATA/routerbench/arc_challenge_test.csv" \
  --tune --adaptive --pool "$OPEN_POOL" --no-routers \
  --report "$OUT/frontier_open.json" --frontier "$OUT/frontier_open.svg" 2>/dev/null | sed -n '/^Accuracy vs cost/,$p'
echo
echo "== Generalisation: RouterDC leave-one-task-out (bank from the 4 other tasks) =="
$SMACS eval --train "${DC_TRAIN[@]}" --test "${DC_TEST[@]}" --tune --leave-one-task-out --no-routers \
  --report "$OUT/routerdc_loto.json"
echo
echo "reports and plots are in $OUT/"
