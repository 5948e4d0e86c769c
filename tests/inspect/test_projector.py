"""Projector files as TensorBoard's own projector plugin reads them."""

from __future__ import annotations

import numpy as np
import pytest

from embtui.inspect.projector import ProjectorTable, tsv_field, write_projector

WORDS = ["", "", "", "", "good", "bad\tword", "line\nbreak", "back\\slash", ""]


@pytest.mark.tensorflow  # TensorBoard's projector reads the files through TensorFlow
def test_tensorboard_reads_the_tables_row_for_row(tmp_path):
    from tensorboard.plugins.projector import projector_plugin as plugin  # the test extra

    rng = np.random.default_rng(0)
    a = rng.normal(size=(len(WORDS), 5)).astype(np.float32) * 1e-3
    b = rng.normal(size=(len(WORDS), 3)).astype(np.float32)
    write_projector(
        tmp_path,
        [
            ProjectorTable('run 12 learned "x"', "run-12", a, WORDS),
            ProjectorTable("run 13 glove-tuned", "run-13", b, WORDS, scores=b[:, 0]),
        ],
    )
    p = plugin.ProjectorPlugin.__new__(plugin.ProjectorPlugin)  # only its readers
    configs, paths = p._read_latest_config_files([("export", str(tmp_path))])
    embeddings = {e.tensor_name: e for e in configs["export"].embeddings}
    assert sorted(embeddings) == ['run 12 learned "x"', "run 13 glove-tuned"]
    for name, table in (('run 12 learned "x"', a), ("run 13 glove-tuned", b)):
        e = embeddings[name]
        assert list(e.tensor_shape) == list(table.shape)
        path = plugin._rel_to_abs_asset_path(e.tensor_path, paths["export"])
        assert np.array_equal(plugin._read_tensor_tsv_file(path), table)
    meta = (tmp_path / "run-12-words.tsv").read_text().split("\n")
    assert meta[:5] == ["<pad>", "<start>", "<oov>", "<unused>", "good"]
    assert meta[5:9] == ["bad\\tword", "line\\nbreak", "back\\\\slash", "<none>"]
    scored = (tmp_path / "run-13-words.tsv").read_text().splitlines()
    assert scored[0] == "word\tscore" and len(scored) == len(WORDS) + 1
    assert all(len(line.split("\t")) == 2 for line in scored)


def test_tsv_field_escapes_what_would_break_a_row():
    assert tsv_field("a\tb\nc\rd\\e") == "a\\tb\\nc\\rd\\\\e"
