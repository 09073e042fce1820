#!/usr/bin/env python3
"""TensorBoard event files: the reference core/util/tfevents.c is checked
against, and a check of a real run's event files.

    pip install tensorboard
    python3 scripts/make_tfevents_reference.py            # writes tests/fixtures/tfevents/
    python3 scripts/make_tfevents_reference.py --check-run RUN_DIR

Default mode: writes tests/fixtures/tfevents/inputs.json (the events: header
wall time, then scalars and texts with explicit wall times and steps) and
reference.tfevents, the same events written by tensorboard's own code:
tensorboard's RecordWriter (the TFRecord framing EventFileWriter uses),
Event/Summary protos and its text plugin's text_pb. EventFileWriter itself
is not used because it stamps its own header (the current time and
writer "tensorboard.summary.writer.event_file_writer"); the header here is
the one strata writes: file_version "brain.Event:2", writer "strata". The
file is then read back with EventAccumulator as a check of the script itself.
tests/unit/test_tfevents.c writes inputs.json's events with st_tfevents_* and
compares the bytes.

--check-run RUN_DIR: loads the run's event files with EventAccumulator and
compares every number in its metrics.jsonl with the scalar at the same step
under the tag the runner uses: "eval/<x>" for a key "eval_<x>", else
"train/<key>" (loss, lr, tokens_per_s, grad_norm). simple_value is a
float32, so values match to float32 rounding. Exits 1 on a value that is
missing, different, or at a step metrics.jsonl does not have.
"""
import argparse
import json
import math
import os
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.text.summary_v2 import text_pb
from tensorboard.summary.writer.record_writer import RecordWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tfevents")

LONG = "".join("| %d | %s |\n" % (i, "x" * i) for i in range(24))  # 506 bytes
EVENTS = {
    "header_wall_time": 1700000000.125,
    "events": [
        # step 0 and a 0 value: proto3 leaves out the step, not the oneof value
        {"kind": "scalar", "tag": "train/loss", "step": 0, "wall_time": 1700000001.5, "value": 0.0},
        {"kind": "scalar", "tag": "train/loss", "step": 1, "wall_time": 1700000002.25, "value": 3.890330314},
        {"kind": "scalar", "tag": "train/lr", "step": 127, "wall_time": 1700000003.0, "value": 1.5e-4},
        {"kind": "scalar", "tag": "eval/loss", "step": 128, "wall_time": 1700000004.75, "value": -2.5e-39},
        {"kind": "scalar", "tag": "train/grad_norm", "step": 5000000000, "wall_time": 1700000005.0,
         "value": 123456.789},
        # a negative step is a ten-byte varint
        {"kind": "scalar", "tag": "a", "step": -1, "wall_time": 0.0, "value": 1e30},
        {"kind": "text", "tag": "recipe", "step": 0, "wall_time": 1700000006.5,
         "text": "```yaml\nmodel: \"a<b&c\"\n```\nunicode: \u00e9\u4e2d\U0001f600"},
        # nested lengths past 127 bytes take two-byte varints at every level
        {"kind": "text", "tag": "plan/table", "step": 3, "wall_time": 1700000007.0, "text": LONG},
        {"kind": "text", "tag": "empty", "step": 4, "wall_time": 1700000008.0, "text": ""},
    ],
}


def event_of(e):
    if e["kind"] == "scalar":
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=e["tag"], simple_value=e["value"])])
    else:
        summary = text_pb(e["tag"], e["text"])
    return event_pb2.Event(wall_time=e["wall_time"], step=e["step"], summary=summary)


def write_reference():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "inputs.json"), "w") as f:
        json.dump(EVENTS, f, indent=1, ensure_ascii=False)
        f.write("\n")
    path = os.path.join(OUT, "reference.tfevents")
    with open(path, "wb") as f:
        w = RecordWriter(f)
        header = event_pb2.Event(wall_time=EVENTS["header_wall_time"], file_version="brain.Event:2",
                                 source_metadata=event_pb2.SourceMetadata(writer="strata"))
        w.write(header.SerializeToString())
        for e in EVENTS["events"]:
            w.write(event_of(e).SerializeToString())
    # read back as TensorBoard would
    acc = event_accumulator.EventAccumulator(path, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    for e in EVENTS["events"]:
        if e["kind"] == "scalar":
            got = [s for s in acc.Scalars(e["tag"]) if s.step == e["step"]]
            assert len(got) == 1 and close(got[0].value, e["value"]), (e, got)
        else:
            got = [t for t in acc.Tensors(e["tag"]) if t.step == e["step"]]
            assert len(got) == 1 and got[0].tensor_proto.string_val[0] == e["text"].encode(), (e, got)
    print("wrote %s (%d bytes) and inputs.json" % (path, os.path.getsize(path)))


def close(a, b):
    """equal to float32 rounding (simple_value is a float32)"""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b)) + 1e-30


def tag_of(key):
    return "eval/" + key[5:] if key.startswith("eval_") else "train/" + key


def check_run(run):
    files = [f for f in os.listdir(run) if "tfevents" in f]
    if not files:
        sys.exit("%s: no event file" % run)
    acc = event_accumulator.EventAccumulator(run, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    want = {}  # tag -> {step: value}
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for n, line in enumerate(f, 1):
            rec = json.loads(line)
            for k, v in rec.items():
                if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                    want.setdefault(tag_of(k), {})[rec["step"]] = float(v)
    tags = acc.Tags()["scalars"]
    bad = 0
    for tag, steps in sorted(want.items()):
        got = {s.step: s.value for s in acc.Scalars(tag)} if tag in tags else {}
        for step, v in sorted(steps.items()):
            if step not in got:
                print("%s step %d: %g in metrics.jsonl, missing from the event files" % (tag, step, v))
                bad += 1
            elif not close(got[step], v):
                print("%s step %d: metrics.jsonl %r, event files %r" % (tag, step, v, got[step]))
                bad += 1
        for step in sorted(set(got) - set(steps)):
            print("%s step %d: in the event files only" % (tag, step))
            bad += 1
    for tag in sorted(set(tags) - set(want)):
        print("note: %s is in the event files only (not compared)" % tag)
    n = sum(len(s) for s in want.values())
    if bad:
        sys.exit("%s: %d mismatches in %d values (%d event files)" % (run, bad, n, len(files)))
    print("%s: %d values under %d tags match metrics.jsonl (%d event files)" % (run, n, len(want), len(files)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check-run", metavar="RUN_DIR",
                    help="compare the run's event files with its metrics.jsonl")
    a = ap.parse_args()
    if a.check_run:
        check_run(a.check_run)
    else:
        write_reference()


if __name__ == "__main__":
    main()
