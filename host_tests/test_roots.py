"""The host side of the trust anchors: tools/gen_roots.py (the shipped roots, reproduced from a
store) and `tools/flash.py ca` (a host's root CA for tls.ca_file, from a chain and a bundle,
without network). CPython only; chains from throwaway CAs (trustme: CA -> intermediate -> leaf).
"""
import os
import subprocess
import sys

import pytest
import trustme

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import certs  # noqa: E402
import gen_roots  # noqa: E402

OUT = os.path.join(ROOT, "firmware", "picoclaw", "net", "roots")


def _sources():
    """The stores on this machine that hold every pinned root between them, or skip."""
    src = gen_roots.default_sources()
    try:
        gen_roots.find_roots(src)
    except SystemExit as e:
        pytest.skip("no store with every shipped root here (%s)" % e)
    return src


def test_the_committed_roots_are_what_the_generator_makes_from_the_store(tmp_path):
    src = _sources()
    assert gen_roots.main(["--check"] + sum((["--bundle", s] for s in src), [])) == 0
    # deterministic: another order of the stores, another folder, the same bytes
    assert gen_roots.main(["--out", str(tmp_path)] + sum((["--bundle", s] for s in reversed(src)), [])) == 0
    for name in os.listdir(tmp_path):
        with open(tmp_path / name) as a, open(os.path.join(OUT, name)) as b:
            assert a.read() == b.read(), name
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["table.py"] + ["%s.py" % g for g, _, _ in gen_roots.GROUPS])


def test_the_shipped_modules_hold_the_pinned_roots_in_order():
    # no store needed: the committed modules against the pins
    import importlib

    for group, hosts, roots in gen_roots.GROUPS:
        mod = importlib.import_module("picoclaw.net.roots." + group)
        assert [certs.sha256(d) for d in mod.ALL] == [r[1] for r in roots], group
        for der in mod.ALL:
            assert certs.Cert(der).self_signed
    table = importlib.import_module("picoclaw.net.roots.table").ALL
    assert [g[0].decode() for g in table] == [g for g, _, _ in gen_roots.GROUPS]
    assert [g[2].decode() for g in table] == [h for _, h, _ in gen_roots.GROUPS]
    for name in ["table"] + [g for g, _, _ in gen_roots.GROUPS]:
        sys.modules.pop("picoclaw.net.roots." + name, None)


def test_the_total_stays_small():
    total = 0
    for group, _, roots in gen_roots.GROUPS:
        with open(os.path.join(OUT, "%s.py" % group)) as f:
            text = f.read()
        total += sum(int(text.split("# %s (" % r[0], 1)[1].split(" bytes")[0]) for r in roots)
    assert total < 16 * 1024  # flash: 13.5 KB of DER today


def test_a_store_without_a_root_is_named(tmp_path):
    ca = trustme.CA()
    bundle = tmp_path / "b.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with pytest.raises(SystemExit) as e:
        gen_roots.find_roots([str(bundle)])
    assert "GTS Root R1" in str(e.value) and "--bundle" in str(e.value)


# -- flash.py ca ------------------------------------------------------------------------------
def _flash(*args, cwd=None):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "flash.py"), "ca"] + list(args),
                          capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.fixture(scope="module")
def pki():
    root, other, stranger = trustme.CA(), trustme.CA(), trustme.CA()
    inter = root.create_child_ca()
    leaf = inter.issue_cert("api.example.test")
    return root, other, stranger, inter, leaf


def _chain(tmp_path, blobs, name="chain.pem"):
    p = tmp_path / name
    # as openssl s_client -showcerts prints it: text around each certificate
    p.write_bytes(b"CONNECTED(00000003)\n---\nCertificate chain\n" + b"".join(
        b" %d s:CN = x\n" % i + b for i, b in enumerate(blobs)) + b"---\nServer certificate\n")
    return str(p)


def _bundle(tmp_path, cas):
    p = tmp_path / "bundle.pem"
    p.write_bytes(b"".join(b"# a label\n" + c.cert_pem.bytes() for c in cas))
    return str(p)


def test_ca_finds_the_root_that_issued_the_chains_last_cert(tmp_path, pki):
    root, other, stranger, inter, leaf = pki
    chain = _chain(tmp_path, [leaf.cert_chain_pems[0].bytes(), inter.cert_pem.bytes()])
    bundle = _bundle(tmp_path, [other, root, stranger])
    r = _flash("api.example.test", "--chain", chain, "--bundle", bundle, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "api.example.test-ca.pem"
    assert certs.pem_certs(out.read_bytes()) == certs.pem_certs(root.cert_pem.bytes())
    assert "tls" in r.stdout and "ca_file" in r.stdout and "api.example.test-ca.pem" in r.stdout
    # the firmware's own loader takes the file
    from picoclaw.net import trust

    assert list(trust.load_ca_file(str(out))) == certs.pem_certs(root.cert_pem.bytes())


def test_ca_with_the_root_in_the_chain_and_a_chosen_output(tmp_path, pki):
    root, other, _, inter, leaf = pki
    chain = _chain(tmp_path, [leaf.cert_chain_pems[0].bytes(), inter.cert_pem.bytes(), root.cert_pem.bytes()])
    out = str(tmp_path / "mine.pem")
    r = _flash("api.example.test", "--chain", chain, "--bundle", _bundle(tmp_path, [root, other]), "--out", out)
    assert r.returncode == 0, r.stderr
    assert certs.pem_certs(open(out, "rb").read()) == certs.pem_certs(root.cert_pem.bytes())


def test_ca_refuses_in_one_line_when_no_bundle_root_issued_the_chain(tmp_path, pki):
    root, other, stranger, inter, leaf = pki
    chain = _chain(tmp_path, [leaf.cert_chain_pems[0].bytes(), inter.cert_pem.bytes()])
    r = _flash("api.example.test", "--chain", chain, "--bundle", _bundle(tmp_path, [other, stranger]))
    assert r.returncode == 2 and r.stdout == ""
    err = r.stderr.strip()
    assert "\n" not in err and err.startswith("flash.py: error: ") and "no root in the bundle" in err
    assert "tls.ca_file" in err
    r = _flash("api.example.test", "--chain", str(tmp_path / "bundle.pem").replace("bundle", "none"),
               "--bundle", _bundle(tmp_path, [root]))
    assert r.returncode == 2 and "--chain" in r.stderr and "\n" not in r.stderr.strip()
    empty = tmp_path / "empty.pem"
    empty.write_text("no certificates here\n")
    r = _flash("api.example.test", "--chain", str(empty), "--bundle", _bundle(tmp_path, [root]))
    assert r.returncode == 2 and "openssl s_client -showcerts" in r.stderr


def test_ca_says_when_the_firmware_already_ships_the_root(tmp_path):
    gts = os.path.join(OUT, "google.py")
    assert os.path.exists(gts)
    import importlib

    der = importlib.import_module("picoclaw.net.roots.google").ALL[0]  # GTS Root R1
    sys.modules.pop("picoclaw.net.roots.google", None)
    chain = tmp_path / "c.pem"
    chain.write_text(certs.pem(der))
    bundle = tmp_path / "b.pem"
    bundle.write_text(certs.pem(der))
    r = _flash("generativelanguage.googleapis.com", "--chain", str(chain), "--bundle", str(bundle),
               "--out", str(tmp_path / "o.pem"))
    assert r.returncode == 0, r.stderr
    assert "GTS Root R1" in r.stdout and "already ships this root (group google)" in r.stdout


def test_ca_without_a_chain_shows_the_openssl_command(tmp_path):
    r = _flash("api.example.test", "--dry-run")
    assert r.returncode == 0
    assert r.stdout.strip() == ("openssl s_client -showcerts -servername api.example.test -connect "
                                "api.example.test:443 </dev/null > chain.pem")
