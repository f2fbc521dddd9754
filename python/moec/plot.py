"""PNG plots of routing statistics (matplotlib, Agg: no display needed).

    stats = layer.routing_stats(x)
    moec.plot.plot_routing(stats, "routing.png")

The left panel is each expert's load against the uniform share (tokens x
k / E), the busiest experts marked; the right one how many experts carry
each load, the collapse verdict in its title.
"""

from pathlib import Path


def plot_routing(stats, path, title=None):
    """Writes the plot of `stats` (moec.RoutingStats) to `path`; returns it."""
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
