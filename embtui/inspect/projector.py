"""Files TensorBoard's Embedding Projector reads: one tensor TSV and one metadata TSV per run,
and `projector_config.pbtxt` naming them (point `tensorboard --logdir` at the folder).

Every row of a run's table is written, so row i of the tensor file is row i of the stored
table (and of the model's Embedding layer); the metadata labels the rows that are no word
(`<pad>`, `<start>`, `<oov>`, `<unused>`, `<none>`). Values are written with nine significant
digits, which read back as the same float32. Words come from data files, so they are escaped
for TSV (a tab, newline or backslash inside a word would break a row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CONFIG_NAME = "projector_config.pbtxt"
_SPECIAL = ("<pad>", "<start>", "<oov>", "<unused>")


def tsv_field(text: str) -> str:
    """A value for one TSV cell: backslash, tab and line breaks escaped as `\\`, `\\t`,
    `\\n`, `\\r`."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def row_labels(words: Sequence[str], rows: int) -> list[str]:
    labels = []
    for i in range(rows):
        if i < len(_SPECIAL):
            labels.append(_SPECIAL[i])
        elif i < len(words) and words[i]:
            labels.append(words[i])
        else:
            labels.append("<none>")
    return labels


def _pbtxt_string(text: str) -> str:
    """A protobuf text-format string literal (quotes, backslashes and control characters
    escaped; other characters as UTF-8 octal escapes, which every reader accepts)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


@dataclass(frozen=True)
class ProjectorTable:
    """One run's table for the projector: `name` (shown in TensorBoard's tensor list),
    `stem` (the files' names), its rows and the words of its vocabulary."""

    name: str
    stem: str
    table: np.ndarray
    words: Sequence[str]
    scores: np.ndarray | None = None  # the word scores, as a second metadata column


def write_projector(folder: Path, tables: Sequence[ProjectorTable]) -> list[Path]:
    """Write the tables and the config into `folder` (created); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    config = []
    for t in tables:
        table = np.asarray(t.table, np.float32)
        tensor = folder / f"{t.stem}.tsv"
        meta = folder / f"{t.stem}-words.tsv"
        np.savetxt(tensor, table, fmt="%.9g", delimiter="\t")
        labels = [tsv_field(w) for w in row_labels(t.words, len(table))]
        with open(meta, "w", encoding="utf-8", newline="\n") as out:
            if t.scores is None:  # one column: the projector wants no header then
                out.writelines(f"{label}\n" for label in labels)
            else:
                out.write("word\tscore\n")
                out.writelines(
                    f"{label}\t{score:.6g}\n"
                    for label, score in zip(labels, np.asarray(t.scores), strict=True)
                )
        written += [tensor, meta]
        config.append(
            "embeddings {\n"
            f"  tensor_name: {_pbtxt_string(t.name)}\n"
            f"  tensor_path: {_pbtxt_string(tensor.name)}\n"
            f"  metadata_path: {_pbtxt_string(meta.name)}\n"
            f"  tensor_shape: {table.shape[0]}\n"
            f"  tensor_shape: {table.shape[1]}\n"
            "}\n"
        )
    path = folder / CONFIG_NAME
    path.write_text("".join(config), encoding="utf-8")
    written.append(path)
    return written
