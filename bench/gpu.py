"""Benchmark: the real-size grid at GPU sizes, embtui against plain Keras, with one command.

Sizes 4,000 / 10,000 / 25,000 training reviews x learned, glove, 10 epochs, 1,000 validation
reviews. The 5,000-review sample of ../shared/data is tiled (written to a temporary CSV) to
reach 26,000 reviews, so shapes and arithmetic are those of the full IMDB training set. It
times, as child processes (whole process, TensorFlow's import included):

* plain Keras (`bench/baseline.py`, 1 seed),
* `embtui run` with 1 seed and with 5 seeds,

and prints the wall times, embtui / Keras, 5 seeds / 1 seed, and the median learned-arm
epoch at the largest size (read back from embtui's store) against the epoch's unavoidable
memory traffic at the device's bandwidth, which it measures itself (a large on-device
elementwise op through TensorFlow on a GPU, numpy on a CPU; see bench/limit.py). Last, a
learned-arm epoch at the largest size alone and per run in a stack of 5 seeds
(the experimental `StackedTrainer`, bench/stacked.py): whether training seeds side by side
pays there.

It is sized to run unattended in under 8 minutes on one recent GPU (not yet timed on one:
no GPU has been available). `--quick` (sizes 200,400, 2 epochs, 200 validation reviews)
checks the script on a CPU in under a minute (38 s on the 2-core development machine).

    python bench/gpu.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

from grid import timed
from limit import epoch_traffic, numpy_bandwidth
from realsize import DEFAULT_DATA
from stacked import compare


def tiled_csv(source: str, rows: int, out: Path) -> None:
    """`source`'s reviews repeated in order until there are `rows` of them."""
    with open(source, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        body = list(reader)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i in range(rows):
            writer.writerow(body[i % len(body)])


def device_bandwidth() -> tuple[str, float]:
    """The training device's name and its measured bytes per second. TensorFlow is set up
    as embtui's runs set it up, before this first op: the stacked comparison after it then
    runs as `embtui run` would."""
    from embtui.engine.tfsetup import configure_tensorflow

    tf = configure_tensorflow()

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU", numpy_bandwidth()
    with tf.device("/GPU:0"):
        a = tf.ones([256 * 1024 * 1024], tf.float32)  # 1 GiB
        best = 0.0
        for _ in range(6):
            t = time.perf_counter()
            b = a * 1.0001  # read a, write b
            float(tf.reduce_sum(b[:1]))  # wait for the device
            best = max(best, 2 * a.shape[0] * 4 / (time.perf_counter() - t))
    return "GPU:0 " + str(
        tf.config.experimental.get_device_details(gpus[0]).get("device_name")
    ), best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dataset", default=str(DEFAULT_DATA))
    args = ap.parse_args()
    sizes, epochs, val = ("200,400", 2, 200) if args.quick else ("4000,10000,25000", 10, 1000)
    largest = max(int(s) for s in sizes.split(","))

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "imdb_tiled.csv"
        tiled_csv(args.dataset, largest + val, data)
        common = ["--dataset", str(data), "--val-size", str(val), "--sizes", sizes]
        common += ["--epochs", str(epochs)]

        def embtui(seeds: int, store: str) -> list[str]:
            return [sys.executable, "-m", "embtui", "run", *common, "--embeddings",
                    "learned,glove", "--seeds", str(seeds), "--subset", "first", "--plain",
                    "--store", store]  # fmt: skip

        warm = embtui(1, f"{tmp}/w.sqlite")
        warm[warm.index("--sizes") + 1] = "10"
        timed(warm)  # fills the data and GloVe caches; not counted
        times = {
            "keras 1 seed": timed([sys.executable, "bench/baseline.py", *common]),
            "embtui 1 seed": timed(embtui(1, f"{tmp}/s1.sqlite")),
            "embtui 5 seeds": timed(embtui(5, f"{tmp}/s5.sqlite")),
        }
        for name, t in times.items():
            print(f"{name:15s} {t:8.2f} s  (sizes {sizes}, learned+glove, {epochs} epochs)")
        print(f"embtui / keras (1 seed): {times['embtui 1 seed'] / times['keras 1 seed']:.3f}")
        print(f"embtui 5 seeds / 1 seed: {times['embtui 5 seeds'] / times['embtui 1 seed']:.2f}")

        from embtui.engine.data import load_dataset_cached
        from embtui.engine.trainer import epoch_orders
        from embtui.store import Store

        store = Store(f"{tmp}/s1.sqlite", create=False)
        exp = store.experiments()[0]
        run = next(r for r in store.runs(exp.id) if r.size == largest and r.embedding == "learned")
        seconds = [e.seconds for e in store.run_epochs(run.id)]
        store.close()
        epoch = statistics.median(seconds[1:] or seconds)
        prepared = load_dataset_cached(str(data), vocab_size=10000, maxlen=150, val_size=val)
        x = prepared.x_train[:largest]
        traffic = epoch_traffic(x, epoch_orders(run.seed, len(x), 1)[0], prepared.x_val.size)
        device, bandwidth = device_bandwidth()
        limit = traffic / bandwidth
        print(f"device {device}: measured bandwidth {bandwidth / 1e9:.0f} GB/s")
        print(
            f"learned-arm epoch at {largest}: median {epoch * 1000:.0f} ms; traffic "
            f"{traffic / 1e9:.2f} GB -> limit {limit * 1000:.1f} ms; epoch / limit "
            f"{epoch / limit:.1f}x"
        )

        # Seeds side by side: one run's epoch alone and in a stack of 5 (bench/stacked.py).
        from embtui.config import ExperimentConfig
        from embtui.engine.trainer import Trainer

        arm_cfg = ExperimentConfig().arm({})
        print(f"seeds side by side at {largest} reviews ({device}):")
        compare(Trainer(arm_cfg, "learned", None), prepared, largest, [5], 2, 1)


if __name__ == "__main__":
    main()
