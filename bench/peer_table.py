#!/usr/bin/env python3
"""peer_table.py - strata against PyTorch on the CPU, side by side, from one
run: for each (shape, mask), `strata bench --json` and bench/peer_cpu.py
(each mask in its own process, the same B, T, threads and frozen dtype),
then one table of ms/step, tokens/s and peak RSS with the ratios.

  python3 bench/peer_table.py                           # the README rows
  python3 bench/peer_table.py --rows gpt2:all,gpt2:top:3 -B 4 -T 64
  python3 bench/peer_table.py --rows qwen2-1.5b:top:4 -B 1 -T 512 --frozen-dtype bf16
  python3 bench/peer_table.py --fused-update            # strata with train.fused_update

Run it on an idle machine: both sides share its cores in turn, never at
once. PyPI (torch, transformers) is needed here only.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_ROWS = "gpt2:all,gpt2:top:3,smollm2-135m:all,smollm2-135m:top:8"


def last_json(out):
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    r = last_json(p.stdout)
    if p.returncode != 0 or r is None:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["?"]
        return None, tail[0]
    return r, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default=DEFAULT_ROWS, help="shape:mask,... (mask all or top:K)")
    ap.add_argument("-B", type=int, default=4)
    ap.add_argument("-T", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frozen-dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--fused-update", action="store_true",
                    help="strata with train.fused_update (AdamW per block during the "
                         "backward, no clipping; PyTorch's loop does not clip either)")
    ap.add_argument("--strata", default=os.path.join(ROOT, "build", "strata"))
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per measurement")
    a = ap.parse_args()
    rows = []
    for item in a.rows.split(","):
        shape, mask = item.split(":", 1)
        sc = [a.strata, "--threads", str(a.threads), "bench", "--json", "--no-trace",
              "--shape", shape, "--trainable", mask, "-B", str(a.B), "-T", str(a.T),
              "--steps", str(a.steps)]
        if a.frozen_dtype != "f32":
            sc += ["--frozen-dtype", a.frozen_dtype]
        if a.fused_update:
            sc += ["--fused-update"]
        tc = [sys.executable, os.path.join(ROOT, "bench", "peer_cpu.py"), "--shape", shape,
              "--trainable", mask, "-B", str(a.B), "-T", str(a.T), "--steps", str(a.steps),
              "--threads", str(a.threads), "--frozen-dtype", a.frozen_dtype]
        s, serr = run(sc, a.timeout)
        t, terr = run(tc, a.timeout)
        rows.append((shape, mask, s, serr, t, terr))
        print(json.dumps({"shape": shape, "trainable": mask, "strata": s or serr,
                          "torch": t or terr}), file=sys.stderr, flush=True)
    print("B=%d T=%d, %d threads, frozen %s%s; ratio: strata tokens/s / PyTorch's, "
          "strata RSS / PyTorch's" % (a.B, a.T, a.threads, a.frozen_dtype,
                                      ", strata fused updates" if a.fused_update else ""))
    print("%-14s %-7s %12s %12s %8s %11s %11s %8s" % (
        "shape", "mask", "strata ms", "torch ms", "tok/s x", "strata MB", "torch MB", "RSS x"))
    for shape, mask, s, serr, t, terr in rows:
        sm = "%.0f" % s["ms_per_step"] if s else (serr or "?")[:12]
        tm = "%.0f" % t["ms_per_step"] if t else (terr or "?")[:12]
        sp = "%.2f" % (s["tokens_per_s"] / t["tokens_per_s"]) if s and t else "-"
        sr = "%.0f" % s["peak_rss_mb"] if s else "-"
        tr = "%.0f" % t["peak_rss_mb"] if t else "-"
        rr = "%.2f" % (s["peak_rss_mb"] / t["peak_rss_mb"]) if s and t else "-"
        print("%-14s %-7s %12s %12s %8s %11s %11s %8s" % (shape, mask, sm, tm, sp, sr, tr, rr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
