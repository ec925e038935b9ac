"""The public-figure gallery: people whose faces the gate screens for.

On disk, in the workspace's ``gallery/`` directory (0700; files 0600)::

    index.json            identities (id, name, photo hashes, dates) and, per embedding row,
                          the identity it belongs to; names the current embeddings file
    embeddings-<n>.npy    float16 (rows x 128) dlib embeddings: 256 bytes per photo

The index is compact (100 000 identities are 25.6 MB) and memory-mapped, so screening a photo
against it is one matrix-vector product. Embeddings are biometric data: they stay in these files
and in memory; listings and decisions carry names, ids and hashes only.

Updates write a new embeddings file and then atomically replace ``index.json``, so a crash
leaves either the old gallery or the new one, never a mix.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emo_safe import _fs
from emo_safe.errors import InputError, WorkspaceError
from emo_safe.media import IMAGE_SUFFIXES, ImageLimits, load_image, sha256_file

EMBEDDING_DIM = 128


@dataclass(frozen=True)
class GalleryIdentity:
    id: str
    name: str
    photos: int
    added_at: str

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "photos": self.photos, "added_at": self.added_at}


@dataclass(frozen=True)
class GalleryMatch:
    identity_id: str
    name: str
    distance: float

    def to_dict(self) -> dict:
        return {"identity_id": self.identity_id, "name": self.name,
                "distance": round(self.distance, 4)}


class Gallery:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._cache: tuple[float, dict, np.ndarray, np.ndarray] | None = None

    @property
    def index_path(self) -> Path:
        return self.root / "index.json"

    # reading -------------------------------------------------------------------------------
    def _load(self) -> tuple[dict, np.ndarray, np.ndarray]:
        """(index, embeddings float32 (n, 128), squared norms); cached until the index changes."""
        try:
            mtime = self.index_path.stat().st_mtime_ns
        except FileNotFoundError:
            empty = {"identities": [], "rows": [], "embeddings": None, "generation": 0}
            return empty, np.zeros((0, EMBEDDING_DIM), np.float32), np.zeros(0, np.float32)
        if self._cache is not None and self._cache[0] == mtime:
            return self._cache[1], self._cache[2], self._cache[3]
        try:
            index = json.loads(self.index_path.read_text())
            emb = np.load(self.root / index["embeddings"], mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, KeyError, TypeError):
            raise WorkspaceError(f"the public-figure gallery at {self.root} is unreadable; "
                                 "restore it from a backup or re-import it") from None
        if emb.ndim != 2 or emb.shape != (len(index["rows"]), EMBEDDING_DIM):
            raise WorkspaceError(f"the public-figure gallery at {self.root} is inconsistent "
                                 "(index and embeddings disagree)")
        emb32 = np.asarray(emb, np.float32)
        norms = np.einsum("ij,ij->i", emb32, emb32)
        self._cache = (mtime, index, emb32, norms)
        return index, emb32, norms

    def identities(self) -> list[GalleryIdentity]:
        index, _, _ = self._load()
        counts = np.bincount(np.asarray(index["rows"], np.int64),
                             minlength=len(index["identities"])) if index["rows"] else \
            np.zeros(len(index["identities"]), np.int64)
        return [GalleryIdentity(i["id"], i["name"], int(counts[k]), i["added_at"])
                for k, i in enumerate(index["identities"])]

    def __len__(self) -> int:
        return len(self._load()[0]["identities"])

    def match(self, embedding: np.ndarray, max_distance: float) -> GalleryMatch | None:
        """The nearest gallery identity within ``max_distance`` (Euclidean), else None."""
        index, emb, norms = self._load()
        if len(emb) == 0:
            return None
        q = np.asarray(embedding, np.float32)
        d2 = norms - 2.0 * (emb @ q) + float(q @ q)
        best = int(np.argmin(d2))
        dist = float(np.sqrt(max(d2[best], 0.0)))
        if dist > max_distance:
            return None
        ident = index["identities"][index["rows"][best]]
        return GalleryMatch(ident["id"], ident["name"], dist)

    # writing -------------------------------------------------------------------------------
    def add(self, name: str, photos: list[str | Path], analyzer=None,
            limits: ImageLimits = ImageLimits()) -> GalleryIdentity:
        """Enrol a person from photos that each show exactly one face (theirs)."""
        from emo_safe.faces import FaceAnalyzer

        name = name.strip()
        if not name:
            raise InputError("a gallery identity needs a name")
        if not photos:
            raise InputError(f"no photos given for {name}")
        analyzer = analyzer or FaceAnalyzer()
        embeddings, hashes = [], []
        for photo in photos:  # decode and check every photo before anything is written
            faces = analyzer.find_faces(load_image(photo, limits)).faces
            if len(faces) != 1:
                raise InputError(f"gallery photo {photo} must show exactly one face; "
                                 f"it shows {len(faces)}")
            if faces[0].eyes_hidden:
                raise InputError(f"the eyes in gallery photo {photo} are hidden (painted over "
                                 "or blurred out); enrol a photo where the face is clearly seen")
            embeddings.append(faces[0].embedding)
            hashes.append(sha256_file(photo))
        return self.add_embeddings(name, np.stack(embeddings), hashes)

    def import_dir(self, directory: str | Path, analyzer=None) -> list[GalleryIdentity]:
        """One sub-folder per person (the folder name is the person's name)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise InputError(f"not a directory: {directory}")
        people = sorted(p for p in directory.iterdir() if p.is_dir())
        plan = []
        for person in people:
            photos = sorted(f for f in person.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if photos:
                plan.append((person.name, photos))
        if not plan:
            raise InputError(f"{directory} has no sub-folders with photos (one per person)")
        return [self.add(name, photos, analyzer) for name, photos in plan]

    def add_embeddings(self, name: str, embeddings: np.ndarray,
                       photo_hashes: list[str]) -> GalleryIdentity:
        """Append embeddings under ``name`` (an existing identity of that name gets them)."""
        embeddings = np.asarray(embeddings, np.float32).reshape(-1, EMBEDDING_DIM)
        return self.add_many([(name, embeddings, photo_hashes)])[0]

    def add_many(self, people: list[tuple[str, np.ndarray, list[str]]]) -> list[GalleryIdentity]:
        index, emb, _ = self._load()
        index = json.loads(json.dumps(index))  # a private copy to edit
        by_name = {i["name"]: k for k, i in enumerate(index["identities"])}
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        new_rows, new_emb, touched = [], [], []
        for name, embeddings, hashes in people:
            k = by_name.get(name)
            if k is None:
                k = len(index["identities"])
                index["identities"].append({"id": secrets.token_hex(8), "name": name,
                                            "photo_sha256": [], "added_at": now})
                by_name[name] = k
            index["identities"][k]["photo_sha256"].extend(hashes)
            new_rows.extend([k] * len(embeddings))
            new_emb.append(np.asarray(embeddings, np.float32).reshape(-1, EMBEDDING_DIM))
            touched.append(k)
        all_emb = np.concatenate([emb, *new_emb]).astype(np.float16)
        index["rows"] = list(index["rows"]) + new_rows
        self._write(index, all_emb)
        listed = self.identities()
        return [listed[k] for k in touched]

    def _write(self, index: dict, embeddings: np.ndarray) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        old = index.get("embeddings")
        index["generation"] = int(index.get("generation", 0)) + 1
        index["embeddings"] = f"embeddings-{index['generation']}.npy"
        _fs.write_atomic(self.root / index["embeddings"],
                         lambda fh: np.save(fh, embeddings, allow_pickle=False), private=True,
                         error=WorkspaceError)
        _fs.write_atomic(self.index_path, json.dumps(index, indent=1), private=True,
                         error=WorkspaceError)
        if old and old != index["embeddings"]:
            (self.root / old).unlink(missing_ok=True)
        self._cache = None

