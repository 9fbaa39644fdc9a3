"""MovieLens-100K ratings with the five u1..u5 cross-validation folds and side information.

Harper & Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4):19, 2015 (the
GroupLens release files, fetched from rohanpassi/recommender-systems-using-deep-learning at commit
be0e72c, the last commit before that repository rescaled ``u1.base``).

Licence (GroupLens, in ``ml-100k/README``): research use only, acknowledge the dataset, no
commercial use and **no redistribution** without permission. Do not commit the files anywhere.
"""
from __future__ import annotations

import io
import os

import numpy as np

from jaxnets.data import _files
from jaxnets.data.types import RatingsDataset

_DIR = "ml-100k"
_ENCODING = "latin-1"  # u.item is Latin-1, not UTF-8 (9 titles have non-ASCII bytes)


def _read_table(path: os.PathLike[str], sep: str) -> np.ndarray:
    """[rows, fields] str array of a ``sep``-separated Latin-1 file (trailing blank lines
    dropped: ``u.genre`` ends with one)."""
    with open(path, encoding=_ENCODING) as f:
        text = f.read().strip("\n")
    return np.loadtxt(io.StringIO(text), dtype=str, delimiter=sep, comments=None, ndmin=2)


def _read_ratings(path: os.PathLike[str]) -> np.ndarray:
    """[R, 4] int64 rows ``user item rating timestamp`` (1-based ids)."""
    return np.loadtxt(path, dtype=np.int64, delimiter="\t", ndmin=2)


def _one_hot(index: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((index.size, size), np.float32)
    out[np.arange(index.size), index] = 1.0
    return out


def load_movielens_100k(root: str | os.PathLike[str] | None = None,
                        fold: int = 1) -> RatingsDataset:
    """Loads MovieLens-100K with the training/test ratings of fold ``u{fold}``.

    Ids are made 0-based (file id minus one): users 0..942, items 0..1681. Rows are
    ``u{fold}.base`` (80000 training ratings) followed by ``u{fold}.test`` (20000 test ratings), in
    file order; the five test sets partition all 100000 ratings. Ratings are float32 stars 1..5.

    Side information:
      * ``item_genres`` [1682, 19] multi-hot from ``u.item`` (genre order of ``u.genre``, which
        starts with "unknown"); ``item_titles`` from ``u.item`` decoded as Latin-1.
      * ``user_features`` [943, 24] from ``u.user``: column 0 is age / max age, columns 1-2 a
        one-hot gender (M, F), columns 3-23 a one-hot occupation (order of ``u.occupation``).
        Zip codes are not used.

    Args:
      root: data root (see ``jaxnets.data``).
      fold: 1..5.

    Returns:
      A ``RatingsDataset`` named ``"movielens-100k/u<fold>"``.
    """
    if fold not in (1, 2, 3, 4, 5):
        raise ValueError(f"fold must be one of 1..5, got {fold!r}")
    names = ["u.item", "u.user", "u.genre", "u.occupation", f"u{fold}.base", f"u{fold}.test"]
    paths = {k.removeprefix(_DIR + "/"): v
             for k, v in _files.require([f"{_DIR}/{n}" for n in names], root).items()}

    base, test = _read_ratings(paths[f"u{fold}.base"]), _read_ratings(paths[f"u{fold}.test"])
    rows = np.concatenate([base, test])
    is_train = np.arange(rows.shape[0]) < base.shape[0]

    genres = _read_table(paths["u.genre"], "|")
    genre_names = tuple(genres[np.argsort(genres[:, 1].astype(np.int64)), 0].tolist())
    items = _read_table(paths["u.item"], "|")
    item_ids = items[:, 0].astype(np.int64) - 1
    num_items = items.shape[0]
    item_genres = np.zeros((num_items, len(genre_names)), np.float32)
    item_genres[item_ids] = items[:, 5:].astype(np.float32)
    titles = np.empty(num_items, dtype=object)
    titles[item_ids] = items[:, 1]

    occupations = _read_table(paths["u.occupation"], "|")[:, 0]
    users = _read_table(paths["u.user"], "|")
    user_ids = users[:, 0].astype(np.int64) - 1
    num_users = users.shape[0]
    age = users[:, 1].astype(np.float32)
    if not np.isin(users[:, 2], ["F", "M"]).all():
        raise ValueError(f"{paths['u.user']}: gender must be 'F' or 'M'")
    gender = (users[:, 2] == "F").astype(np.int64)  # M -> column 0, F -> column 1
    occ_order = np.argsort(occupations)
    occ = occ_order[np.searchsorted(occupations[occ_order], users[:, 3])]
    if not np.array_equal(occupations[occ], users[:, 3]):
        raise ValueError(f"{paths['u.user']}: unknown occupation")
    feats = np.concatenate([(age / age.max())[:, None], _one_hot(gender, 2),
                            _one_hot(occ, occupations.size)], axis=1)
    user_features = np.empty_like(feats)
    user_features[user_ids] = feats

    return RatingsDataset(
        name=f"movielens-100k/u{fold}",
        users=(rows[:, 0] - 1).astype(np.int32), items=(rows[:, 1] - 1).astype(np.int32),
        ratings=rows[:, 2].astype(np.float32), timestamps=rows[:, 3].astype(np.int64),
        train_mask=is_train, test_mask=~is_train, num_users=num_users, num_items=num_items,
        item_genres=item_genres, genre_names=genre_names, item_titles=tuple(titles.tolist()),
        user_features=user_features,
        user_feature_names=("age/max_age", "gender=M", "gender=F",
                            *(f"occupation={o}" for o in occupations.tolist())))
