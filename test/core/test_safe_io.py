"""Pre-read checks of bundle files: golden sets from their zip directory and .npy headers (no
array inflated), manifests by size and string length, FIFOs and other non-regular files."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from cherry_classifier.core.bundle import load_bundle, save_bundle
from cherry_classifier.core.model_paths import default_models_dir
from cherry_classifier.core.safe_io import (
    GOLDEN_LIMITS,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_STRING_CHARS,
    ModelLoadError,
    NpzLimits,
    check_file,
    check_npz,
    read_yaml_mapping,
)
from test.fixtures.hostile_bundles import (
    GOLDEN_BOMBS,
    add_long_string,
    write_lying_npz,
    write_zero_crops,
)

from .conftest import make_manifest


def test_the_shipped_golden_set_is_within_the_limits():
    golden = default_models_dir() / "default" / "golden.npz"
    check_npz(golden, GOLDEN_LIMITS)


@pytest.mark.parametrize("name", GOLDEN_BOMBS)
def test_golden_bombs_are_refused_from_their_headers_naming_the_limit(tmp_path, name):
    shape, reason = GOLDEN_BOMBS[name]
    path = tmp_path / "golden.npz"
    inflated = write_zero_crops(path, shape)
    assert path.stat().st_size < inflated // 100  # a bomb: tiny on disk
    with pytest.raises(ModelLoadError, match=reason):
        check_npz(path, GOLDEN_LIMITS)


def test_every_limit_is_named(tmp_path):
    path = tmp_path / "g.npz"
    write_zero_crops(path, (8, 64, 64, 3))  # 96 KiB of crops
    check_npz(path, GOLDEN_LIMITS)
    tight = NpzLimits(max_rows=64, max_member_bytes=1 << 20, max_total_bytes=64 << 10)
    with pytest.raises(ModelLoadError, match=r"over the 0\.0625 MiB limit for a golden set"):
        check_npz(path, tight)
    few = NpzLimits(max_rows=4, max_member_bytes=1 << 20, max_total_bytes=1 << 20)
    with pytest.raises(ModelLoadError, match="holds 8 rows, over the 4-crop limit"):
        check_npz(path, few)
    one = NpzLimits(max_rows=64, max_member_bytes=1 << 20, max_total_bytes=1 << 20, max_members=1)
    with pytest.raises(ModelLoadError, match="2 arrays, over the 1-array limit"):
        check_npz(path, one)


def test_a_header_that_understates_or_overstates_the_data_is_refused(tmp_path):
    path = tmp_path / "golden.npz"
    write_lying_npz(path)
    with pytest.raises(ModelLoadError, match=r"declares shape \(48, 128, 128, 3\)"):
        check_npz(path, GOLDEN_LIMITS)


def test_object_arrays_and_non_zip_files_are_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, crops=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelLoadError, match="holds Python objects"):
        check_npz(path, GOLDEN_LIMITS)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="unreadable golden set"):
        check_npz(tmp_path / "junk.npz", GOLDEN_LIMITS)


def test_a_fifo_in_place_of_a_file_is_refused_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "golden.npz")  # opening it to read would block forever
    with pytest.raises(ModelLoadError, match="not a regular file"):
        check_npz(tmp_path / "golden.npz", GOLDEN_LIMITS)
    with pytest.raises(ModelLoadError, match="no such manifest"):
        check_file(tmp_path / "missing.yaml", "manifest")


def test_a_bundle_with_a_bomb_or_fifo_as_golden_set_is_refused_on_load(tmp_path, resnet18_three):
    save_bundle(tmp_path / "m", resnet18_three, make_manifest())
    write_zero_crops(tmp_path / "m" / "golden.npz", GOLDEN_BOMBS["bomb_20mb"][0])
    with pytest.raises(ModelLoadError, match="over the 12 MiB limit"):
        load_bundle(tmp_path / "m")
    (tmp_path / "m" / "golden.npz").unlink()
    os.mkfifo(tmp_path / "m" / "golden.npz")
    with pytest.raises(ModelLoadError, match=r"golden\.npz: not a regular file"):
        load_bundle(tmp_path / "m")


def test_manifest_size_and_string_limits(tmp_path, resnet18_three):
    save_bundle(tmp_path / "m", resnet18_three, make_manifest())
    manifest = tmp_path / "m" / "manifest.yaml"
    shutil.copy(manifest, tmp_path / "original.yaml")
    add_long_string(manifest, MAX_MANIFEST_STRING_CHARS)  # at the limit: accepted
    assert read_yaml_mapping(manifest)["provenance"]["note"]
    add_long_string(manifest, MAX_MANIFEST_STRING_CHARS + 1)
    with pytest.raises(ModelLoadError, match=r"manifest\.provenance\.note is a 65537-character"):
        load_bundle(tmp_path / "m")
    add_long_string(manifest, 20 << 20)  # the 20 MiB string that once stalled a swap
    with pytest.raises(ModelLoadError, match=f"over the {MAX_MANIFEST_BYTES}-byte limit"):
        load_bundle(tmp_path / "m")
    document = (tmp_path / "original.yaml").read_text()
    manifest.write_text(document + f"? {'k' * (MAX_MANIFEST_STRING_CHARS + 1)}\n: 1\n")
    with pytest.raises(ModelLoadError, match="manifest key is a 65537-character string"):
        load_bundle(tmp_path / "m")
    aliases = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )  # a billion laughs: 10^9 leaves through shared lists, each list visited once
    manifest.write_text(document + aliases)
    assert read_yaml_mapping(manifest)["i"]
