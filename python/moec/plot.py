"""PNG plots of routing statistics (matplotlib, Agg: no display needed).

    stats = layer.routing_stats(x)
    moec.plot.plot_routing(stats, "routing.png")

or, from what `moe-run --stats-json` wrote, without the package installed:

    python3 python/moec/plot.py stats.json routing.png

The left panel is each expert's load against the uniform share (tokens x
k / E), the busiest experts marked; the middle one how many experts carry
each load, the collapse verdict in its title; the right one the
distribution of the selected routing weights over [0, scaling factor].
"""

import json
import sys
from pathlib import Path
from types import SimpleNamespace


def _fields(stats):
    """A RoutingStats as it is; a --stats-json dict with its histograms
    spread into bucket_width and the counts, weight_range and the weights'
    counts, as RoutingStats has them."""
    if not isinstance(stats, dict):
        return stats
    fields = dict(stats)
    histogram = fields.pop("histogram")
    fields["bucket_width"] = histogram["bucket_width"]
    fields["histogram"] = histogram["experts"]
    weights = fields.pop("weight_histogram")
    fields["weight_range"] = weights["range"]
    fields["weight_histogram"] = weights["slots"]
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
    figure, (loads, spread, weights) = plt.subplots(1, 3, figsize=(15, 4),
                                                    width_ratios=[2, 1, 1])
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

    bins = len(stats.weight_histogram)
    bin_width = stats.weight_range / bins if bins else 0
    weights.bar([b * bin_width for b in range(bins)], stats.weight_histogram,
                width=bin_width * 0.9, align="edge", color="tab:green")
    weights.set_xlim(0, stats.weight_range)
    weights.set_xlabel("routing weight of a selected expert")
    weights.set_ylabel("slots")
    weights.set_title(f"routing weights over [0, {stats.weight_range:g}]", fontsize=9)
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
