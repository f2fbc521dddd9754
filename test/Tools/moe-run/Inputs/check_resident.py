"""Checks moe-run's --timing-json against a bound on resident memory:
peak resident <= factor x the checkpoint's bytes + slack (the process's
own code and libraries)."""
import json
import os
import sys

timing, checkpoint, factor, slack_mb = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
t = json.load(open(timing))
size = os.path.getsize(checkpoint)
limit = factor * size + slack_mb * 2**20
for key in ("bind_peak_rss_bytes", "peak_rss_bytes"):
    ratio = t[key] / size
    print(f"{key}: {t[key]} bytes, {ratio:.3f} x the checkpoint's {size}")
    if t[key] > limit:
        sys.exit(f"error: {key} {t[key]} exceeds {factor} x {size} + {slack_mb} MiB")
