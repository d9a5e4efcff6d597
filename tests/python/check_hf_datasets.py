"""Loads weft shards with Hugging Face `datasets` and pyarrow, with no weft code, and checks
that images decode to PIL images and messages to nested dicts.

Usage: python check_hf_datasets.py SHARD.parquet [SHARD.parquet ...]
Prints one JSON line with what it saw; exits non-zero on any mismatch.
"""

import json
import sys

import datasets
import pyarrow.parquet as pq
from PIL import Image


def main(paths):
    ds = datasets.load_dataset("parquet", data_files=paths, split="train")
    features = ds.features
    assert isinstance(features["images"], (datasets.List, datasets.Sequence)) or isinstance(
        features["images"], list
    ), features["images"]
    seen = {"rows": len(ds), "images": 0, "sizes": [], "roles": set(), "tasks": set()}
    for row in ds:
        for img in row["images"]:
            assert isinstance(img, Image.Image), type(img)
            img.load()
            seen["images"] += 1
            seen["sizes"].append([img.width, img.height])
        for i, meta in enumerate(row["image_meta"]):
            w, h = seen["sizes"][len(seen["sizes"]) - len(row["images"]) + i]
            assert (meta["width"], meta["height"]) == (w, h), (meta, w, h)
        for msg in row["messages"]:
            assert isinstance(msg, dict) and isinstance(msg["content"], list), msg
            seen["roles"].add(msg["role"])
            for part in msg["content"]:
                assert part["type"] in ("text", "image", "video"), part
        json.loads(row["meta"])
        seen["tasks"].add(row["task"])
    table = pq.read_table(paths[0])
    assert table.schema.metadata[b"weft.schema_version"] == b"1"
    seen["roles"] = sorted(seen["roles"])
    seen["tasks"] = sorted(seen["tasks"])
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1:])
