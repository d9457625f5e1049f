"""A small file with three syntax slips, for trying `dgcode fix` on the embedded model (README)."""

import os


def find_python_files(root)
    found = []
    for folder, _subfolders, names in os.walk(root):
        for name in names:
            if name.endswith(".py"):
                found.append(os.path.join(folder name))
    return sorted(found)


def count_lines(path):
    with open(path, encoding="utf-8") as handle:
        return sum(1 for _ in handle)


def largest(paths):
    best, best_count = None, -1
    for path in paths:
        count = count_lines(path)
        if count = best_count:
            continue
        if count > best_count:
            best, best_count = path, count
    return best
