#!/usr/bin/env bash
# The whole SkyMath chain in miniature on a CPU (docs/quickstart-pipeline.md explains every step):
#   local teacher -> synthesize both stages from a few real MATH train seeds -> decontaminate -> select
#   -> train both stages -> lm_eval (base and final model) -> report -> submission -> verify.
#
# Needs: `pip install torch==2.13.0 && pip install -e ".[test]"` (or ".[demo,serve,embed]"), and the data
# folder (math/train.jsonl for the seeds, gsm8k/ and math/ test sets for decontamination and evaluation):
#   SKYMATH_DATA_DIR=../shared/data examples/mini_pipeline.sh
# Options (environment): OUT (default runs/mini), MODEL_DIR (a plain Hugging Face folder of the model to
# use as teacher and student; default: exported from the demo's SmolLM2-135M-Instruct GGUF with
# `skymath-demo --export-hf`), PORT (teacher port, default 8000), EVAL_LIMIT (GSM8K test problems, default 10),
# TEACHER_BASE_URL + TEACHER_MODEL (an OpenAI-compatible teacher already running, e.g. vLLM on a GPU box:
# no local teacher is started), SYNTH_DIR (stage files synthesized elsewhere: steps 2-3 are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${SKYMATH_DATA_DIR:?set SKYMATH_DATA_DIR to the data folder (math/train.jsonl, gsm8k/test.jsonl, math/test.jsonl)}"
export SKYMATH_DATA_DIR
OUT=${OUT:-runs/mini}
PORT=${PORT:-8000}
EVAL_LIMIT=${EVAL_LIMIT:-10}
MODEL_DIR=${MODEL_DIR:-$OUT/smollm2}
export TOKENIZERS_PARALLELISM=false OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
mkdir -p "$OUT"
step() { printf '\n=== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "1. model: a plain Hugging Face folder of SmolLM2-135M-Instruct"
if [ ! -f "$MODEL_DIR/config.json" ]; then
  skymath-demo --export-hf "$MODEL_DIR"
fi
# `transformers serve` samples only when the model's generation config says do_sample (a request's
# temperature alone is ignored: every draw of a seed would get the same greedy reply). lm_eval's tasks
# set do_sample false themselves, so the evaluation stays greedy.
python - "$MODEL_DIR" <<'PY'
import sys
from transformers import GenerationConfig
cfg = GenerationConfig.from_pretrained(sys.argv[1])
if not cfg.do_sample:
    cfg.do_sample = True
    cfg.save_pretrained(sys.argv[1])
PY

SYNTH=${SYNTH_DIR:-$OUT/synth}
if [ -n "${SYNTH_DIR:-}" ]; then
  # stage files synthesized elsewhere (a GPU box, an API teacher): continue from them
  step "2-3. synthesized rows from $SYNTH_DIR (SYNTH_DIR set: no teacher started here)"
  for f in stage1_normal.jsonl stage2_hard.jsonl; do
    [ -s "$SYNTH/$f" ] || { echo "SYNTH_DIR=$SYNTH_DIR has no $f (the files skymath-synth generate writes)"; exit 2; }
  done
else
  BASE_URL=${TEACHER_BASE_URL:-http://127.0.0.1:$PORT/v1}
  TEACHER_NAME=${TEACHER_MODEL:-$MODEL_DIR}
  TEACHER=""
  if [ -z "${TEACHER_BASE_URL:-}" ]; then
    step "2. local teacher: transformers serve on port $PORT"
    transformers serve --port "$PORT" --device cpu "$MODEL_DIR" > "$OUT/teacher.log" 2>&1 &
    TEACHER=$!
    trap 'kill $TEACHER 2>/dev/null || true' EXIT
    for _ in $(seq 120); do
      curl -sf "$BASE_URL/models" > /dev/null && break
      kill -0 $TEACHER 2>/dev/null || { echo "the teacher exited, see $OUT/teacher.log"; exit 1; }
      sleep 1
    done
  else
    step "2. teacher: $TEACHER_NAME at $TEACHER_BASE_URL (TEACHER_BASE_URL set)"
  fi

  step "3. synthesize both stages (rerun the same command to resume; a second run sends nothing)"
  rc=0
  skymath-synth generate --config configs/synth/local_teacher_mini.yaml --output-dir "$SYNTH" \
      --base-url "$BASE_URL" --model "$TEACHER_NAME" > "$OUT/synth_summary.json" || rc=$?
  if [ -n "$TEACHER" ]; then kill $TEACHER 2>/dev/null || true; wait $TEACHER 2>/dev/null || true; fi
  if [ "$rc" -ne 0 ]; then
    echo "skymath-synth generate exited $rc (3 = a stage without rows; see the message above and $SYNTH/*/round*/rejected.jsonl)."
    echo "A 135M teacher may write no acceptable row at all: use a stronger one (TEACHER_BASE_URL, TEACHER_MODEL),"
    echo "or bring stage files synthesized elsewhere (SYNTH_DIR); docs/quickstart-pipeline.md"
    exit "$rc"
  fi
fi
wc -l "$SYNTH"/stage1_normal.jsonl "$SYNTH"/stage2_hard.jsonl

step "4. decontaminate against GSM8K and MATH test (30-gram + exact problem match)"
mkdir -p "$OUT/data"
skymath-synth decontaminate "$SYNTH/stage1_normal.jsonl" -o "$OUT/data/stage1.clean.jsonl" --no-progress --overwrite
skymath-synth decontaminate "$SYNTH/stage2_hard.jsonl" -o "$OUT/data/stage2.clean.jsonl" --no-progress --overwrite

step "5. select: near-duplicates out of stage 1, hard problems (seed level >= 4) for stage 2"
skymath-synth dedup "$OUT/data/stage1.clean.jsonl" -o "$OUT/data/stage1.jsonl" --no-progress --overwrite
skymath-synth select-hard "$OUT/data/stage2.clean.jsonl" -o "$OUT/data/stage2.jsonl" --min-level 4 --no-progress --overwrite
wc -l "$OUT/data/stage1.jsonl" "$OUT/data/stage2.jsonl"

step "6. train both stages (stage 2 starts from the stage-1 model)"
rm -rf "$OUT/train"
skymath-train --preset cpu-smoke --model-name-or-path "$MODEL_DIR" \
    --stage1-data "$OUT/data/stage1.jsonl" --stage2-data "$OUT/data/stage2.jsonl" --output-dir "$OUT/train" \
    --learning-rate 2e-5 --max-length 768 --save-strategy no

step "7. evaluate the base and the final model with lm_eval ($EVAL_LIMIT GSM8K test problems)"
for name in base stage2; do
  dir=$MODEL_DIR; [ "$name" = stage2 ] && dir=$OUT/train/stage2
  rm -rf "$OUT/lm_eval/$name"
  lm_eval --model hf --model_args "pretrained=$dir,dtype=float32" --tasks skymath_gsm8k --limit "$EVAL_LIMIT" \
      --batch_size 5 --device cpu --gen_kwargs max_gen_toks=160 --output_path "$OUT/lm_eval/$name" --log_samples
done

step "8. report (tables + plots), submission of the final model, verification"
skymath-report report "$OUT/lm_eval" --output-dir "$OUT/report" \
    --label "$OUT/lm_eval/base=SmolLM2-135M-Instruct" --label "$OUT/lm_eval/stage2=SmolLM2-135M mini SFT"
skymath-report submit "$OUT/lm_eval/stage2" --output-dir "$OUT/submissions" --data-dir "$SKYMATH_DATA_DIR" \
    --label "$OUT/lm_eval/stage2=SmolLM2-135M mini SFT"
skymath-report verify "$OUT"/submissions/*.submission.json --data-dir "$SKYMATH_DATA_DIR"

step "done"
echo "synthesis summary: $SYNTH/summary.json; training: $OUT/train/stage*/skymath_stage.json;"
echo "report: $OUT/report/report.md; submission: $(ls "$OUT"/submissions/*.submission.json)"
