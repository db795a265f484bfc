"""Do aclImdb's review ids run film by film? Rare words shared by neighbouring ids against random pairs.

    python bench/imdb_film_order.py --source ../shared/data/aclImdb_labeled.tar.gz

Reads train/pos in numeric id order (the file names' <id>_<stars>.txt) and counts, for each review and the
next id, the words both use that occur in 2 to 20 reviews of that folder (film and actor names, mostly),
and the same for as many random pairs. Prints the two means and the share of pairs sharing two or more. A
random validation carve from train takes its films' other reviews only if neighbours share far more: then
most validation films are in train too (bench/RESULTS.md, issue 18).
"""

import argparse
import collections
import random
import re
import tarfile


def reviews_in_id_order(path: str, folder: str) -> list[set[str]]:
    found = {}
    with tarfile.open(path, "r:*") as tar:
        for m in tar:
            parts = m.name.split("/")
            if m.isfile() and "/".join(parts[-3:-1]) == folder and parts[-1].endswith(".txt"):
                text = tar.extractfile(m).read().decode("utf-8", "replace").lower()
                found[int(parts[-1].split("_")[0])] = set(re.findall(r"[a-z']+", text))
    return [found[i] for i in sorted(found)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, help="an aclImdb .tar.gz")
    p.add_argument("--folder", default="train/pos")
    a = p.parse_args()
    words = reviews_in_id_order(a.source, a.folder)
    df = collections.Counter(w for s in words for w in s)
    rare = [{w for w in s if 2 <= df[w] <= 20} for s in words]
    n = len(rare)
    rng = random.Random(0)
    pairs = {"neighbouring ids": [(i, i + 1) for i in range(n - 1)],
             "random pairs": [(rng.randrange(n), rng.randrange(n)) for _ in range(n - 1)]}  # fmt: skip
    print(f"{a.folder}: {n} reviews; rare words: in 2-20 reviews")
    for name, ps in pairs.items():
        shared = [len(rare[i] & rare[j]) for i, j in ps]
        two = sum(s >= 2 for s in shared) / len(shared)
        print(
            f"{name}: {sum(shared) / len(shared):.3f} rare words shared on average, {100 * two:.2f}% share two or more"
        )


if __name__ == "__main__":
    main()
