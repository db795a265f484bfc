"""Do aclImdb's review ids run film by film, and how much of a validation carve's films are in train?

    python bench/imdb_film_order.py --source ../shared/data/aclImdb_labeled.tar.gz

Part 1 reads train/pos in numeric id order (the file names' <id>_<stars>.txt) and counts, for each review
and the next id, the words both use that occur in 2 to 20 reviews (film and actor names, mostly), and the
same for as many random pairs. If neighbours share far more, the ids run film by film, and a random
validation carve from train takes its films' other reviews along: most validation films are in train too.

Part 2 carves 10% of each train class the two ways `data.carve` offers (random: seeded and stratified;
last: the last tenth of each class in id order) and prints, for each, the share of validation reviews that
have a "twin" left in train (a train review sharing at least 3 of those rare words), beside the same share
for the test split, whose films upstream keeps apart from train's (bench/RESULTS.md, issue 18).
"""

import argparse
import collections
import random
import re
import tarfile

RARE = (2, 20)  # a word in this many reviews (of train and test together) is rare
TWIN = 3  # a review with at least this many rare words in common is a twin


def read_folders(path: str) -> dict[str, list[set[str]]]:
    """{"train/pos": [word set per review, in id order], ...} for the four labelled folders."""
    found = collections.defaultdict(dict)
    with tarfile.open(path, "r:*") as tar:
        for m in tar:
            parts = m.name.split("/")
            folder = "/".join(parts[-3:-1])
            if m.isfile() and parts[-2] in ("pos", "neg") and parts[-3] in ("train", "test"):
                text = tar.extractfile(m).read().decode("utf-8", "replace").lower()
                found[folder][int(parts[-1].split("_")[0])] = set(re.findall(r"[a-z']+", text))
    return {f: [ids[i] for i in sorted(ids)] for f, ids in found.items()}


def neighbours(rare: list[set[str]]) -> None:
    n = len(rare)
    rng = random.Random(0)
    pairs = {"neighbouring ids": [(i, i + 1) for i in range(n - 1)],
             "random pairs": [(rng.randrange(n), rng.randrange(n)) for _ in range(n - 1)]}  # fmt: skip
    for name, ps in pairs.items():
        shared = [len(rare[i] & rare[j]) for i, j in ps]
        mean, two = sum(shared) / len(shared), sum(s >= 2 for s in shared) / len(shared)
        print(f"  {name}: {mean:.3f} rare words shared on average, {100 * two:.2f}% share two or more")


def twin_share(queries: list[set[str]], pool: list[set[str]]) -> float:
    """The share of `queries` with a twin in `pool` (an inverted index: rare words have short postings)."""
    postings = collections.defaultdict(list)
    for j, words in enumerate(pool):
        for w in words:
            postings[w].append(j)
    hits = 0
    for words in queries:
        counts = collections.Counter(j for w in words for j in postings.get(w, ()))
        hits += bool(counts) and max(counts.values()) >= TWIN
    return hits / len(queries)


def carves(rare: dict[str, list[set[str]]], fraction: float) -> None:
    rng = random.Random(42)
    for how in ("random", "last"):
        train, validation = [], []
        for c in ("pos", "neg"):
            reviews = rare[f"train/{c}"]
            order = list(range(len(reviews)))
            if how == "random":
                rng.shuffle(order)
                carved = set(order[: round(len(reviews) * fraction)])
            else:
                carved = set(order[len(reviews) - round(len(reviews) * fraction) :])
            for i, r in enumerate(reviews):
                (validation if i in carved else train).append(r)
        print(f"  carve {how}: {100 * twin_share(validation, train):.1f}% of validation reviews have a twin in train")
    test = rare["test/pos"] + rare["test/neg"]
    train = rare["train/pos"] + rare["train/neg"]
    print(f"  the test split: {100 * twin_share(test, train):.1f}% of test reviews have a twin in train")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, help="an aclImdb .tar.gz")
    p.add_argument("--fraction", type=float, default=0.1, help="the validation share of each class")
    a = p.parse_args()
    words = read_folders(a.source)
    df = collections.Counter(w for reviews in words.values() for s in reviews for w in s)
    rare = {f: [{w for w in s if RARE[0] <= df[w] <= RARE[1]} for s in reviews] for f, reviews in words.items()}
    print(f"train/pos: {len(rare['train/pos'])} reviews; rare words: in {RARE[0]}-{RARE[1]} reviews")
    neighbours(rare["train/pos"])
    print(f"a {100 * a.fraction:.0f}% validation carve; a twin shares at least {TWIN} rare words")
    carves(rare, a.fraction)


if __name__ == "__main__":
    main()
