"""The reference notebook's way of running the grid, transcribed faithfully: the baseline.

For each size and arm: a new Sequential(Embedding -> Flatten -> Dense), GloVe weights set
and frozen for the glove arm, compile(rmsprop, binary_crossentropy, acc), and
fit(x[:n], y[:n], epochs=10, batch_size=32, validation_data=(x_val, y_val)), verbose 0.
With `--seeds S`, each (size, arm) is fitted S times, after `keras.utils.set_random_seed`
with seeds 0..S-1, as a user repeating the notebook's cell per seed would.
Data and GloVe come from embtui's own loaders so that both sides see the same arrays.

    python bench/baseline.py --dataset ../shared/data/imdb_reviews_5k.csv --val-size 2500
"""

from __future__ import annotations

import argparse
import time

from embtui.engine.data import load_dataset
from embtui.engine.glove import glove_matrix


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="../shared/data/imdb_reviews_5k.csv")
    ap.add_argument("--val-size", type=int, default=2500)
    ap.add_argument("--sizes", default="10,50,100,200,500")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()

    t0 = time.perf_counter()
    import keras
    from keras import Sequential
    from keras.layers import Dense, Embedding, Flatten

    data = load_dataset(args.dataset, vocab_size=10000, maxlen=150, val_size=args.val_size)
    glove = glove_matrix(data.word_index, 10000)
    x, y, x_val, y_val = data.x_train, data.y_train, data.x_val, data.y_val
    for n in (int(s) for s in args.sizes.split(",")):
        for arm in ("learned", "glove"):
            for seed in range(args.seeds):
                keras.utils.set_random_seed(seed)
                dim = 100 if arm == "learned" else glove.dim
                model = Sequential()
                model.add(Embedding(10000, dim, input_length=150))
                model.add(Flatten())
                model.add(Dense(1, activation="sigmoid"))
                model.build((None, 150))
                if arm == "glove":
                    model.layers[0].set_weights([glove.matrix])
                    model.layers[0].trainable = False
                model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
                hist = model.fit(
                    x[:n],
                    y[:n],
                    epochs=args.epochs,
                    batch_size=32,
                    validation_data=(x_val, y_val),
                    verbose=0,
                )
                print(
                    f"{n:4d} {arm:8s} {seed} val_acc {hist.history['val_acc'][-1]:.4f}", flush=True
                )
    print(f"baseline grid: {time.perf_counter() - t0:.2f} s after start-up", flush=True)


if __name__ == "__main__":
    main()
