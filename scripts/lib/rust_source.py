"""Reading Rust source for the structure checks (scripts/check-layers, scripts/check-function-length).

Not a parser: just enough lexing to find braces, `crate::` paths and `fn` items without being
fooled by comments, strings or character literals, and to leave test-only code out. Only the
standard library, so the checks run on any machine with python3.
"""

import os
import re

TEST_FILE_NAMES = ("tests.rs", "testkit.rs")
TEST_FILE_SUFFIX = "_tests.rs"

# `#[cfg(test)]` and `#[cfg(all(test, ...))]`: compiled only for tests. `any(test, ...)` is not.
TEST_CFG = re.compile(r"#\[\s*cfg\s*\(\s*(?:test|all\s*\([^()]*\btest\b[^()]*\))\s*\)\s*\]")
INNER_TEST_CFG = re.compile(r"#!\[\s*cfg\s*\(\s*(?:test|all\s*\([^()]*\btest\b[^()]*\))\s*\)\s*\]")
MOD_DECL = re.compile(r"\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;")
PATH_ATTR = re.compile(r'#\[\s*path\s*=\s*"([^"]*)"\s*\]')


def _is_ident(ch):
    return ch.isalnum() or ch == "_"


def blank(text):
    """The text with comments and the contents of string and character literals replaced by
    spaces. Newlines are kept and every other offset is unchanged, so line numbers and
    positions found in the result hold for the original."""
    out = list(text)
    n = len(text)
    i = 0

    def wipe(start, end):
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            end = text.find("\n", i)
            end = n if end < 0 else end
            wipe(i, end)
            i = end
        elif c == "/" and nxt == "*":
            # Block comments nest in Rust.
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            wipe(i, j)
            i = j
        elif c == "r" and (i == 0 or not _is_ident(text[i - 1]) or _raw_prefix_b(text, i)) \
                and re.match(r'r#*"', text[i:i + 300]):
            hashes = len(re.match(r"r(#*)\"", text[i:]).group(1))
            body = i + 2 + hashes
            close = '"' + "#" * hashes
            end = text.find(close, body)
            end = n if end < 0 else end
            wipe(body, end)
            i = end + len(close)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            wipe(i + 1, j)
            i = j + 1
        elif c == "'":
            # A character literal ('{', '\n', '\u{7b}') or a lifetime/label ('a, 'static).
            if nxt == "\\":
                j = i + 3  # past the backslash and the escaped character
                while j < n and text[j] != "'" and text[j] != "\n":
                    j += 1
                wipe(i + 1, j)
                i = j + 1
            elif i + 2 < n and text[i + 2] == "'":
                wipe(i + 1, i + 2)
                i += 3
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


def _raw_prefix_b(text, i):
    """`br"..."`: the `r` follows a `b` that starts a token."""
    return text[i - 1] == "b" and (i < 2 or not _is_ident(text[i - 2]))


def matching(blanked, open_at):
    """Offset of the bracket closing the one at `open_at` ({, ( or [), or len-1 if none."""
    pairs = {"{": "}", "(": ")", "[": "]"}
    opener = blanked[open_at]
    closer = pairs[opener]
    depth = 0
    for k in range(open_at, len(blanked)):
        ch = blanked[k]
        if ch == opener:
            depth += 1
        elif ch == closer:
            depth -= 1
            if depth == 0:
                return k
    return len(blanked) - 1


def item_end(blanked, start):
    """End offset (inclusive) of the item, statement, field or arm starting at `start`: its `;`
    or `,`, the brace closing its body, or the text before the brace closing what encloses it.
    Further attributes before the item are skipped as bracketed text."""
    depth = 0
    for k in range(start, len(blanked)):
        ch = blanked[k]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                return k - 1
        elif ch == "{":
            if depth == 0:
                return matching(blanked, k)
            depth += 1
        elif ch == "}":
            if depth == 0:
                return k - 1
            depth -= 1
        elif depth == 0 and ch in ";,":
            return k
    return len(blanked) - 1


def test_spans(blanked):
    """(start, end) offsets of the items compiled only for tests (`#[cfg(test)] mod tests {..}`,
    a `#[cfg(test)] fn`, `use` or `impl`), each from its attribute to its end."""
    spans = []
    for m in TEST_CFG.finditer(blanked):
        if spans and m.start() <= spans[-1][1]:
            continue
        spans.append((m.start(), item_end(blanked, m.end())))
    return spans


def without_tests(blanked):
    """The blanked text with test-only items blanked too (offsets kept)."""
    out = list(blanked)
    for start, end in test_spans(blanked):
        for k in range(start, end + 1):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def _declared_test_files(path, text, blanked):
    """Files named by `#[cfg(test)] mod name;` (with an optional `#[path = "..."]`) in `path`."""
    found = []
    directory = os.path.dirname(path)
    base = os.path.basename(path)
    own_dir = directory if base in ("mod.rs", "lib.rs", "main.rs") \
        else os.path.join(directory, base[:-3])
    for start, end in test_spans(blanked):
        decl = MOD_DECL.search(blanked, start, end + 1)
        if not decl:
            continue
        # The path attribute's string is blanked; read it from the original text.
        attr = PATH_ATTR.search(text, start, decl.start())
        if attr:
            found.append(os.path.normpath(os.path.join(directory, attr.group(1))))
        else:
            name = decl.group(1)
            found.append(os.path.join(own_dir, name + ".rs"))
            found.append(os.path.join(own_dir, name, "mod.rs"))
    return found


def source_files(root="src"):
    """Every non-test .rs file under `root` as (path, text, blanked-without-tests), sorted.
    Left out: tests.rs, testkit.rs, *_tests.rs, files declared by a `#[cfg(test)] mod`, and
    files that start with `#![cfg(test)]`."""
    files = {}
    for directory, _, names in os.walk(root):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.normpath(os.path.join(directory, name))
                with open(path, encoding="utf-8", errors="replace") as f:
                    files[path] = f.read()
    blanked = {path: blank(text) for path, text in files.items()}
    test_only = set()
    for path, text in files.items():
        name = os.path.basename(path)
        if name in TEST_FILE_NAMES or name.endswith(TEST_FILE_SUFFIX) \
                or INNER_TEST_CFG.search(blanked[path]):
            test_only.add(path)
        test_only.update(_declared_test_files(path, text, blanked[path]))
    result = []
    for path in sorted(files):
        if path not in test_only:
            result.append((path, files[path], without_tests(blanked[path])))
    return result
