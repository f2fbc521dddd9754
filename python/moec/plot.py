"""PNG plots of routing statistics (matplotlib, Agg: no display needed).

    stats = layer.routing_stats(x)
    moec.plot.plot_routing(stats, "routing.png")

or, from what `moe-run --stats-json` wrote, without the package installed:

    python3 python/moec/plot.py stats.json routing.png

The left panel is each expert's load against the uniform share (tokens x
k / E), the busiest experts marked; the right one how many experts carry
each load, the collapse verdict in its title.
"""

import json
import sys
from pathlib import Path
from types import SimpleNamespace


def _fields(stats):
    """A RoutingStats as it is; a --stats-json dict with its histogram
    spread into bucket_width and the counts, as RoutingStats has them."""
    if not isinstance(stats, dict):
        return stats
    fields = dict(stats)
    histogram = fields.pop("histogram")
    fields["bucket_width"] = histogram["bucket_width"]
    fields["histogram"] = histogram["experts"]
    return SimpleNamespace(**fields)


def plot_routing(stats, path, title=None):
    """Writes the plot of `stats` (a moec.RoutingStats, or the dict
    `moe-run --stats-json` writes) to `path`; returns the path."""
    stats = _fields(stats)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    experts = list(range(stats.experts))
    uniform = stats.slots / stats.experts if stats.experts else 0
    figure, (loads, spread) = plt.subplots(1, 2, figsize=(11, 4), width_ratios=[2, 1])
    colors = ["tab:red" if e in stats.busiest_experts else "tab:blue" for e in experts]
    loads.bar(experts, stats.load, color=colors, width=0.85)
    loads.axhline(uniform, color="black", linestyle="--", linewidth=1,
                  label=f"uniform share {uniform:.1f}")
    loads.set_xlabel("expert")
    loads.set_ylabel("slots routed")
    loads.set_title(f"load per expert: {stats.tokens} tokens, {stats.idle_experts} idle "
                    "(busiest in red)")
    loads.legend(loc="upper right")

    width = stats.bucket_width
    starts = [b * width for b in range(len(stats.histogram))]
    spread.bar(starts, stats.histogram, width=width * 0.9, align="edge", color="tab:gray")
    spread.set_xlabel("load (slots)")
    spread.set_ylabel("experts")
    verdict = ("COLLAPSED: " + stats.collapse_reason) if stats.collapsed else "not collapsed"
    spread.set_title(verdict, fontsize=9)
    figure.suptitle(title or f"routing of {stats.experts} experts")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py STATS.json OUT.png (STATS.json from moe-run --stats-json)")
    stats = json.load(open(sys.argv[1]))
    title = f"routing of {stats['entry']}: {stats['experts']} experts"
    print(f"wrote {plot_routing(stats, sys.argv[2], title=title)}")
