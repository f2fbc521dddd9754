"""Checks a moe-run --trace file: Chrome trace JSON whose complete events
have non-negative times; the bind's slot events (the manifest's slots, in
order), then init, inside the bind event; the warm-up and timed forwards in
order after it; with --phases, expert parallelism's five phase events at
the start of each forward, end to end, with --local-phases a single
process's four; with --stats, the statistics event after the forwards.

    check_trace.py TRACE.json MANIFEST.json WARMUP REPEAT [--phases | --local-phases]
                   [--stats] [--pid N]
"""

import json
import sys

trace_path, manifest_path, warmup, repeat = sys.argv[1:5]
flags = sys.argv[5:]
pid = int(flags[flags.index("--pid") + 1]) if "--pid" in flags else 0
trace = json.load(open(trace_path))
events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
assert all(e["pid"] == pid and e["ts"] >= 0 and e["dur"] >= 0 for e in events), events
names = [e["name"] for e in events]
entry = next(e for e in json.load(open(manifest_path))["entries"] if e["kind"] == "forward")
slots = [w["name"] for w in entry["weights"]]

bind = events[names.index("bind")]
first = names.index(slots[0])
assert names[first:first + len(slots) + 1] == slots + ["init"], names
for e in events[first:first + len(slots) + 1]:
    assert bind["ts"] <= e["ts"] and e["ts"] + e["dur"] <= bind["ts"] + bind["dur"] + 1e-3, (e, bind)

forwards = [e for e in events if e["cat"] == "forward" and "forward" in e["name"]]
assert [e["name"] for e in forwards] == ["warm-up forward"] * int(warmup) + ["forward"] * int(repeat), forwards
assert [e["args"]["run"] for e in forwards] == list(range(-int(warmup), int(repeat))), forwards
assert all(a["ts"] + a["dur"] <= b["ts"] for a, b in zip(forwards, forwards[1:])), forwards
assert forwards[0]["ts"] >= bind["ts"] + bind["dur"], (forwards[0], bind)

phases = [e for e in events if e["cat"] == "phase"]
expected = (["route", "exchange", "experts", "exchange back", "combine"] if "--phases" in flags
            else ["route", "dispatch", "experts", "combine"] if "--local-phases" in flags
            else [])
n = len(expected)
assert len(phases) == n * len(forwards), phases
for i, forward in enumerate(forwards if n else []):
    group = phases[n * i:n * i + n]
    assert [p["name"] for p in group] == expected, group
    assert abs(group[0]["ts"] - forward["ts"]) < 1e-3, (group, forward)
    for a, b in zip(group, group[1:]):
        assert abs(a["ts"] + a["dur"] - b["ts"]) < 1e-2, (a, b)
if "--stats" in flags:
    stats = events[names.index("routing statistics")]
    assert stats["ts"] >= forwards[-1]["ts"] + forwards[-1]["dur"], stats
print("trace ok:", len(events), "events")
