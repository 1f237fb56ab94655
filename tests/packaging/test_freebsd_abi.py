"""scripts/check-freebsd-abi: passes on this tree, and fails when one kernel number in
src/sys changes (each case mutates a copy of the tree, never the tree itself)."""

import shutil
import subprocess

import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "check-freebsd-abi"


def run(src):
    return subprocess.run([str(SCRIPT), "--src", str(src)], capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def pristine():
    out = run(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_this_tree_matches_freebsd_headers(pristine):
    assert "values match FreeBSD's headers" in pristine
    count = int(pristine.split("OK: ")[1].split()[0])
    assert count >= 150, pristine


@pytest.fixture
def tree(tmp_path):
    for name in ("Cargo.toml", "Cargo.lock"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "src", tmp_path / "src")
    return tmp_path


MUTATIONS = [
    # (file under src/sys, original text, mutated text, what the failure names)
    ("bsd/route.rs", "pub const RT_MSGHDR_LEN: usize = 152;",
     "pub const RT_MSGHDR_LEN: usize = 144;", "RT_MSGHDR_LEN"),
    ("bsd/route.rs", "pub const RTM_IFANNOUNCE: u8 = 0x11;",
     "pub const RTM_IFANNOUNCE: u8 = 0x12;", "RTM_IFANNOUNCE"),
    ("bsd/ioctl.rs", "pub const BIOCSETIF: u64 = iow(b'B', 108, IFREQ);",
     "pub const BIOCSETIF: u64 = iow(b'B', 109, IFREQ);", "BIOCSETIF"),
    ("bsd/ioctl.rs", "const IOC_IN: u64 = 0x8000_0000;", "const IOC_IN: u64 = 0x4000_0000;",
     "IOC_IN"),
    ("bsd/route.rs", "    let flags = i32_at(msg, 8)?;\n    let addrs = i32_at(msg, 12)?;\n    let errno",
     "    let flags = i32_at(msg, 12)?;\n    let addrs = i32_at(msg, 12)?;\n    let errno",
     "parse_route: `flags` offset"),
    ("bsd/route.rs", "let link_state = u8_at(msg, 16 + 4)?;", "let link_state = u8_at(msg, 16 + 5)?;",
     "`link_state` offset"),
    ("bsd/bpf_buffer.rs", "let hdrlen = u16_at(header, 24)", "let hdrlen = u16_at(header, 22)",
     "`hdrlen` offset"),
    ("bsd/bpf_buffer.rs", "let caplen = u32_at(header, 16)", "let caplen = u16_at(header, 16)",
     "`caplen` width"),
    ("freebsd/capture.rs", "    bf_len: libc::c_uint,\n", "    bf_len: u64,\n", "bf_len size"),
    ("bsd/route.rs", "pub const RTM_VERSION: u8 = 5;",
     "pub const RTM_VERSION: u8 = 5;\npub const RTM_LOSING: u8 = 0x5;", "RTM_LOSING"),
]


@pytest.mark.parametrize("rel, original, mutated, named", MUTATIONS,
                         ids=[m[3] for m in MUTATIONS])
def test_one_changed_number_fails(pristine, tree, rel, original, mutated, named):
    path = tree / "src" / "sys" / rel
    text = path.read_text()
    assert text.count(original) == 1, f"{rel} no longer has {original!r}: update this test"
    path.write_text(text.replace(original, mutated))
    out = run(tree)
    assert out.returncode == 1, out.stdout + out.stderr
    assert named in out.stderr, out.stderr
