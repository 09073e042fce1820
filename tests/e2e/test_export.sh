#!/usr/bin/env bash
# From a finished run to a model people use (strata export, run folders as
# models, output.keep, moving a run):
#  - a 20-step freeze run on stories260K, exported: `strata eval` of the
#    export, and of the run folder itself, equals the run's final eval bit
#    for bit (summary.json vs eval --json, both written with every digit);
#  - the same for a LoRA run, exported merged;
#  - RUN@step-N and RUN@best load; a missing one is a clear error;
#  - the run folder moved elsewhere resumes and exports from another
#    working directory; a base model changed on disk is refused.
set -u
. tests/e2e/assets.sh
bin=$(realpath "$bin")
S=("${asset_sets[@]}" --set trace.samples=8 --set eval.max_samples=48 --set data.max_samples=400
   --set train.steps=20 --set eval.every=10 --set output.checkpoint_every=10)
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# final.loss / final.accuracy of a summary.json, or loss / accuracy of eval --json
field() { lua5.4 - "$@" <<'LUA'
local f = io.open(arg[1])
local s = f and f:read("a") or ""
local sect = arg[2] ~= "" and s:match("\"" .. arg[2] .. "\"%s*:%s*(%b{})") or (arg[2] == "" and s) or ""
print(sect:match("\"" .. arg[3] .. "\"%s*:%s*([-0-9.eE+]+)") or "none")
LUA
}
same_eval() { # run-summary eval-json what
  for k in loss accuracy; do
    a=$(field "$1" final "$k"); b=$(field "$2" "" "$k")
    [ -n "$a" ] && [ "$a" != none ] && [ "$a" = "$b" ] || bad "$3: $k $b, the run's final $a"
  done
}

"$bin" --threads 1 run recipes/quickstart.yaml "${S[@]}" --set output.keep=all \
  --out "$tmp/frozen" >"$tmp/f.out" 2>&1 || { cat "$tmp/f.out"; exit 1; }
"$bin" export "$tmp/frozen" "$tmp/fx" >"$tmp/x.out" 2>&1 || { cat "$tmp/x.out"; exit 1; }
for f in config.json model.safetensors tokenizer.json tokenizer_config.json generation_config.json; do
  [ -f "$tmp/fx/$f" ] || bad "export lacks $f"
done
# the export, with the eval set spelled out as the recipe has it
"$bin" --threads 1 eval "$tmp/fx" --data "$shared/data/sst2/dev.tsv" --seq-len 64 --samples 48 \
  --batch 32 --template 'Review: {sentence}\nSentiment:' --verbalizers '0= bad,1= good' \
  --json "$tmp/fx.json" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
same_eval "$tmp/frozen/summary.json" "$tmp/fx.json" "eval of the export"
# the run folder as a model, on its own eval set
"$bin" --threads 1 eval "$tmp/frozen" --json "$tmp/fr.json" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
same_eval "$tmp/frozen/summary.json" "$tmp/fr.json" "eval of the run folder"
# kept checkpoints are models too
"$bin" info "$tmp/frozen@step-10" >/dev/null 2>"$tmp/err" || bad "RUN@step-10: $(cat "$tmp/err")"
"$bin" info "$tmp/frozen@step-7" >/dev/null 2>"$tmp/err"; grep -q "kept no checkpoint of that step" "$tmp/err" ||
  bad "RUN@step-7: $(cat "$tmp/err")"
"$bin" info "$tmp/frozen@best" >/dev/null 2>"$tmp/err"; grep -q "kept no best checkpoint" "$tmp/err" ||
  bad "RUN@best without keep: best: $(cat "$tmp/err")"
"$bin" info "$tmp/frozen@later" >/dev/null 2>"$tmp/err"; grep -q "expected best, last or step-N" "$tmp/err" ||
  bad "RUN@later: $(cat "$tmp/err")"
"$bin" export "$tmp/frozen" "$tmp/fx" >/dev/null 2>"$tmp/err"; grep -q "exists and is not empty" "$tmp/err" ||
  bad "export over a full folder: $(cat "$tmp/err")"

# LoRA, exported merged: its final eval was of the merged weights
"$bin" --threads 1 run recipes/quickstart.yaml "${S[@]}" --set policy.params.lora=true \
  --set "lora={rank: 4, alpha: 8, modules: [q, v]}" --set output.keep=best \
  --out "$tmp/lora" >"$tmp/l.out" 2>&1 || { cat "$tmp/l.out"; exit 1; }
"$bin" export "$tmp/lora" "$tmp/lx" >"$tmp/x.out" 2>&1 || { cat "$tmp/x.out"; exit 1; }
"$bin" --threads 1 eval "$tmp/lx" --data "$shared/data/sst2/dev.tsv" --seq-len 64 --samples 48 \
  --batch 32 --template 'Review: {sentence}\nSentiment:' --verbalizers '0= bad,1= good' \
  --json "$tmp/lx.json" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
same_eval "$tmp/lora/summary.json" "$tmp/lx.json" "eval of the merged LoRA export"
best=$(field "$tmp/lora/summary.json" best step)
[ "$best" != none ] && [ -f "$tmp/lora/best.safetensors" ] || bad "keep: best kept no best checkpoint ($best)"
"$bin" export "$tmp/lora@best" "$tmp/lb" >/dev/null 2>"$tmp/err" || bad "export RUN@best: $(cat "$tmp/err")"
"$bin" export "$tmp/lora" "$tmp/la" --adapter-only >/dev/null 2>"$tmp/err" &&
  [ -f "$tmp/la/adapter_config.json" ] || bad "--adapter-only: $(cat "$tmp/err")"
"$bin" export "$tmp/frozen" "$tmp/fa" --adapter-only >/dev/null 2>"$tmp/err"
grep -q "trained no LoRA adapters" "$tmp/err" || bad "--adapter-only of a frozen run: $(cat "$tmp/err")"

# moving: a run on a private copy of the model, then the folder moves and
# is resumed and exported from another directory
mkdir -p "$tmp/m" "$tmp/elsewhere"
cp "$shared/models/stories260K/stories260K.bin" "$shared/models/stories260K/tok512.bin" "$tmp/m/"
"$bin" --threads 1 run recipes/quickstart.yaml "${S[@]}" --set "model=$tmp/m/stories260K.bin" \
  --stop-at 10 --out "$tmp/moved-from" >"$tmp/m.out" 2>&1 || { cat "$tmp/m.out"; exit 1; }
mv "$tmp/moved-from" "$tmp/elsewhere/run"
(cd "$tmp/elsewhere" && "$bin" --threads 1 run --resume run >"$tmp/r.out" 2>&1) || bad "resume after a move: $(tail -3 "$tmp/r.out")"
(cd / && "$bin" export "$tmp/elsewhere/run" "$tmp/mx" >/dev/null 2>"$tmp/err") || bad "export after a move: $(cat "$tmp/err")"
# the base model changes under the run: refused, naming it
printf '\x01' | dd of="$tmp/m/stories260K.bin" bs=1 seek=100000 conv=notrunc 2>/dev/null
"$bin" export "$tmp/elsewhere/run" "$tmp/mx2" >/dev/null 2>"$tmp/err"
grep -q "changed since the run" "$tmp/err" || bad "a changed base model: $(cat "$tmp/err")"
"$bin" --threads 1 run --resume "$tmp/elsewhere/run" --set train.steps=30 >/dev/null 2>"$tmp/err"
grep -q "the model changed since the run started" "$tmp/err" || bad "resume on a changed model: $(cat "$tmp/err")"

[ $fail = 0 ] && echo ok
exit $fail
