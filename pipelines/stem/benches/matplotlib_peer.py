"""matplotlib peer of the chart benchmark: draws the same tables (bar, grouped bar, line,
pie, scatter; JSON from the Rust bench) at the same pixel size with the Agg backend and
writes PNGs; prints charts per second. Fonts: Noto Sans CJK, as weft uses."""
import json, sys, time, os
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import font_manager

for p in ["/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"]:
    if os.path.exists(p):
        font_manager.fontManager.addfont(p)
        plt.rcParams["font.family"] = font_manager.FontProperties(fname=p).get_name()

tables = json.load(open(sys.argv[1]))
out = sys.argv[2]
os.makedirs(out, exist_ok=True)
W, H, DPI = 800, 600, 100

def draw(t, path):
    fig, ax = plt.subplots(figsize=(W / DPI, H / DPI), dpi=DPI)
    cats = t["categories"]
    k = t["kind"]
    if k in ("bar", "grouped_bar"):
        n = len(t["series"])
        w = 0.7 / n
        for j, s in enumerate(t["series"]):
            ax.bar([i + 0.15 + j * w for i in range(len(cats))], s["values"], w, align="edge", label=s["name"])
        ax.set_xticks([i + 0.5 for i in range(len(cats))], cats)
    elif k == "line":
        for s in t["series"]:
            ax.plot(range(len(cats)), s["values"], marker="o", label=s["name"])
        ax.set_xticks(range(len(cats)), cats)
    elif k == "pie":
        ax.pie(t["series"][0]["values"], labels=None, startangle=90, counterclock=False)
        ax.legend(cats)
    else:
        for s in t["series"]:
            xs, ys = zip(*s["points"])
            ax.scatter(xs, ys, label=s["name"])
    if k != "pie":
        ax.legend()
        ax.set_xlabel(t["x_label"]); ax.set_ylabel(t["y_label"])
    ax.set_title(t["title"])
    fig.savefig(path, dpi=DPI)
    plt.close(fig)

draw(tables[0], os.path.join(out, "warm.png"))
start = time.perf_counter()
for i, t in enumerate(tables):
    draw(t, os.path.join(out, f"{i}.png"))
print(len(tables) / (time.perf_counter() - start))
