"""Tree-sitter tags: a definition and a reference in each of the eight languages, headers, and the cache."""

from __future__ import annotations

import json
import os

import pytest

from dgcode.context.tagcache import TagCache
from dgcode.context.tags import EXTENSIONS, GRAMMARS, extract_tags, language_for

SAMPLES = {
    "python": ("shapes.py", "from base import Shape\n\nclass Circle(Shape):\n    def area(self):\n"
               "        return compute_area(self)\n", "Circle", "compute_area"),
    "javascript": ("app.js", "import { Shape } from './s.js';\nclass Circle extends Shape {\n"
                   "  area() { return computeArea(this); }\n}\n", "Circle", "computeArea"),
    "typescript": ("app.ts", "interface Sized { size(): number }\n"
                   "export function measure(s: Sized): number { return helperFn(s); }\n", "Sized", "helperFn"),
    "tsx": ("view.tsx", "export function Badge(p: BadgeProps) { return <b>{label(p)}</b>; }\n", "Badge",
            "BadgeProps"),
    "rust": ("lib.rs", "pub struct Circle { r: f64 }\nimpl Circle {\n    pub fn area(&self) -> f64 "
             "{ compute_area(self.r) }\n}\n", "Circle", "compute_area"),
    "go": ("main.go", "package main\n\ntype Circle struct{ R float64 }\n\nfunc main() {\n"
           "\tfmt.Println(ComputeArea(Circle{1}))\n}\n", "Circle", "ComputeArea"),
    "java": ("App.java", "class Circle extends Shape {\n  double area() { return Geometry.computeArea(this); }\n}\n",
             "Circle", "computeArea"),
    "c": ("vec.c", "typedef struct { double x, y; } Vec;\n\ndouble vec_len(Vec v)\n{\n"
          "    return sqrt_approx(v.x * v.x + v.y * v.y);\n}\n", "vec_len", "sqrt_approx"),
    "cpp": ("mat.cpp", "namespace la {\nclass Matrix : public Base {\n public:\n"
            "  double trace() const { return sum_diag(*this); }\n};\n}\n", "Matrix", "sum_diag"),
}


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_each_language_finds_a_definition_and_a_reference(language):
    path, source, defined, referenced = SAMPLES[language]
    assert language_for(path) == language
    tags = extract_tags(path, source.encode())
    assert ("def", defined) in {(t.kind, t.name) for t in tags}
    assert ("ref", referenced) in {(t.kind, t.name) for t in tags}
    assert all(t.path == path for t in tags)


def test_every_grammar_has_a_sample_and_an_extension():
    assert set(SAMPLES) == set(GRAMMARS) == set(EXTENSIONS.values())


def test_definition_headers_include_enclosing_scopes_and_stop_at_the_body():
    source = (b"import os\n\nclass Shape:\n    '''doc'''\n\n    def area(self,\n             scale: float,\n"
              b"             ) -> float:\n        return 0.0\n\n@cache\ndef helper(x):\n    return x\n")
    defs = {t.name: t for t in extract_tags("s.py", source) if t.kind == "def"}
    assert defs["Shape"].lines == ((2, "class Shape:"),)
    assert defs["area"].lines == ((2, "class Shape:"), (5, "    def area(self,"), (6, "             scale: float,"),
                                  (7, "             ) -> float:"))
    assert defs["helper"].lines == ((11, "def helper(x):"),) and defs["helper"].line == 11


def test_allman_braces_are_not_part_of_the_header():
    source = b"int\nmain(void)\n{\n    return run();\n}\n"
    (main,) = [t for t in extract_tags("m.c", source) if t.kind == "def"]
    assert main.lines == ((0, "int"), (1, "main(void)"))


def test_a_definition_name_is_not_also_a_reference():
    source = b"package p\n\ntype Point struct{ X int }\n\nfunc Norm(p Point) int { return p.X }\n"
    tags = extract_tags("p.go", source)
    points = [(t.kind, t.line) for t in tags if t.name == "Point"]
    assert sorted(points) == [("def", 2), ("ref", 4)]


def test_unknown_languages_have_no_tags():
    assert language_for("README.md") is None
    assert extract_tags("README.md", b"# def f(): pass\n") == []


def test_cache_parses_a_file_once_until_it_changes(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    return g()\n")
    cache = TagCache()
    first = cache.tags(tmp_path, "a.py")
    again = cache.tags(tmp_path, "a.py")
    assert cache.parsed == 1 and again == first
    (tmp_path / "a.py").write_text("def f2():\n    return g()\n")
    stat = os.stat(tmp_path / "a.py")
    os.utime(tmp_path / "a.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert {t.name for t in cache.tags(tmp_path, "a.py") if t.kind == "def"} == {"f2"}
    assert cache.parsed == 2


def test_cache_skips_binary_and_oversized_files(tmp_path):
    (tmp_path / "bin.py").write_bytes(b"def f():\x00\n")
    (tmp_path / "big.py").write_text("def f():\n    pass\n" * 100)
    cache = TagCache(max_bytes=500)
    assert cache.tags(tmp_path, "bin.py") == [] and cache.tags(tmp_path, "big.py") == []
    assert cache.parsed == 0


def test_cache_survives_a_restart_on_disk_and_ignores_a_stale_fingerprint(tmp_path):
    (tmp_path / "a.rs").write_text("fn main() { run(); }\n")
    store = tmp_path / "cache" / "tags.json"
    cache = TagCache(store)
    tags = cache.tags(tmp_path, "a.rs")
    cache.save()
    reopened = TagCache(store)
    assert reopened.tags(tmp_path, "a.rs") == tags and reopened.parsed == 0
    data = json.loads(store.read_text())
    data["fingerprint"] = "other"
    store.write_text(json.dumps(data))
    stale = TagCache(store)
    assert stale.tags(tmp_path, "a.rs") == tags and stale.parsed == 1
    store.write_text("{not json")
    assert TagCache(store).tags(tmp_path, "a.rs") == tags
