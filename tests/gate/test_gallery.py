"""The public-figure gallery: enrolment, import, a compact private index, nearest match."""

import json
import os
import shutil
import stat

import numpy as np
import pytest

from emo_safe.errors import InputError, WorkspaceError


def test_add_list_and_match_real_faces(workspace, data_dir):
    from emo_safe.faces import FaceAnalyzer

    g = workspace.gallery()
    ident = g.add("Barack Obama", [data_dir / "obama.jpg"])
    assert ident.name == "Barack Obama" and ident.photos == 1
    g.add("Barack Obama", [data_dir / "obama2.jpg"])  # same name: more photos, one identity
    g.add("Joe Biden", [data_dir / "biden.jpg"])
    assert [(i.name, i.photos) for i in g.identities()] == [("Barack Obama", 2), ("Joe Biden", 1)]
    fa = FaceAnalyzer()
    alex = fa.detect(fa_image(data_dir / "alex-lacamoire.png"))[0]
    assert g.match(alex.embedding, 0.55) is None
    obama = fa.detect(fa_image(data_dir / "obama2.jpg"))[0]
    assert g.match(obama.embedding, 0.55).name == "Barack Obama"


def fa_image(path):
    from emo_safe.media import load_image

    return load_image(path)


def test_index_is_compact_private_and_has_no_embeddings_in_its_json(workspace, data_dir):
    g = workspace.gallery()
    g.add("Joe Biden", [data_dir / "biden.jpg"])
    rng = np.random.default_rng(0)
    g.add_embeddings("synthetic", rng.normal(0, 0.1, (999, 128)), ["0" * 64] * 999)
    files = sorted(p.name for p in g.root.iterdir())
    assert files == ["embeddings-2.npy", "index.json"]  # the old generation was removed
    npy = g.root / "embeddings-2.npy"
    assert npy.stat().st_size <= 1000 * 128 * 2 + 256  # float16: 256 bytes per photo
    for p in g.root.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(g.root.stat().st_mode) == 0o700
    index = json.loads((g.root / "index.json").read_text())
    assert set(index) == {"identities", "rows", "embeddings", "generation"}
    assert len(index["rows"]) == 1000


def test_import_directory_one_folder_per_person(workspace, data_dir, tmp_path):
    root = tmp_path / "figures"
    (root / "Barack Obama").mkdir(parents=True)
    (root / "Joe Biden").mkdir()
    shutil.copy(data_dir / "obama.jpg", root / "Barack Obama")
    shutil.copy(data_dir / "obama2.jpg", root / "Barack Obama")
    shutil.copy(data_dir / "biden.jpg", root / "Joe Biden")
    (root / "Joe Biden" / "notes.txt").write_text("not a photo")
    idents = workspace.gallery().import_dir(root)
    assert [(i.name, i.photos) for i in idents] == [("Barack Obama", 2), ("Joe Biden", 1)]


def test_a_photo_with_two_faces_or_none_is_rejected_and_nothing_is_written(workspace, data_dir,
                                                                           tmp_path):
    import cv2

    g = workspace.gallery()
    with pytest.raises(InputError, match="exactly one face; it shows 2"):
        g.add("Both", [data_dir / "biden.jpg", data_dir / "two_people.jpg"])
    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), np.full((300, 300, 3), 128, np.uint8))
    with pytest.raises(InputError, match="exactly one face; it shows 0"):
        g.add("Nobody", [data_dir / "biden.jpg", wall])
    assert not g.root.exists() or list(g.root.iterdir()) == []


def test_a_damaged_index_is_a_clear_error(workspace, data_dir):
    g = workspace.gallery()
    g.add("Joe Biden", [data_dir / "biden.jpg"])
    (g.root / "index.json").write_text("{not json")
    os.utime(g.root / "index.json", ns=(1, 1))
    with pytest.raises(WorkspaceError, match="unreadable"):
        workspace.gallery().match(np.zeros(128, np.float32), 0.5)
