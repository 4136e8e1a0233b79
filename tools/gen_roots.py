"""Regenerate the CA roots the firmware trusts out of the box: firmware/picoclaw/net/roots/table.py
(the group table) and one module per group, firmware/picoclaw/net/roots/<group>.py (the DER bytes).

    python tools/gen_roots.py                 # roots from certifi's bundle, then /etc/ssl/certs
    python tools/gen_roots.py --bundle /etc/ssl/certs/ca-certificates.crt
    python tools/gen_roots.py --check         # exit 1 if the committed modules differ

Each root is pinned by its SHA-256 below, so the output does not depend on which store gave
the bytes (certifi follows Mozilla, which dropped the older cross-signing roots; Debian's
/etc/ssl/certs still has them): the same roots give the same files, byte for byte.

Why groups: a board parses every CA it loads into its heap (on a Pico W mbedTLS allocates in
the GC heap), so a connection loads only the group its host needs. Why one module per group:
frozen into firmware a module's bytes constants stay in flash; as .mpy on the filesystem
they are copied into RAM when the module is imported, so only that group's bytes are.
The host -> group map is best knowledge of the providers' chains (2025-2026); a host whose CA
changed still verifies, because trust.py tries the other groups after a refusal and remembers
the one that worked (<workspace>/state/anchors).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "firmware", "picoclaw", "net", "roots")
STORE = "/etc/ssl/certs"

# (group, hosts whose served chain ends at one of its roots, [(label, sha256, why)]), in the
# order a host outside the map tries them: the CAs most API hosts use first (Cloudflare-fronted
# hosts get Google Trust Services or Let's Encrypt certificates).
GROUPS = [
    ("google", "generativelanguage.googleapis.com api.openai.com api.anthropic.com openrouter.ai api.groq.com", [
        ("GTS Root R1", "d947432abde7b7fa90fc2e6b59101b1280e0e1c7e4e40fa3c6887fff57a7f4cf",
         "googleapis.com (WR2), RSA chains"),
        ("GTS Root R2", "8d25cd97229dbf70356bda4eb3cc734031e24cf00fafcfd32dc76eb5841c7ea8", "RSA"),
        ("GTS Root R3", "34d8a73ee208d9bcdb0d956520934b4e40e69482596e8b6f73c8426b010a6f48", "ECDSA"),
        ("GTS Root R4", "349dfa4058c5e263123b398ae795573c4e1313c83fe68f93556cd5e8031b3c7d",
         "Cloudflare-fronted hosts (WE1), ECDSA chains"),
        ("GlobalSign Root CA", "ebd41040e4bb3ec742c9e381d31ef2a41a48b6685c96e7cef3c1df6cd4331c99",
         "cross-signs GTS Root R1/R4 (chains served with the cross-signed root)"),
    ]),
    ("letsencrypt", "", [
        ("ISRG Root X1", "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6", "RSA"),
        ("ISRG Root X2", "69729b8e15a86efc177a57afb7171dfc64add28c2fca8cf1507e34453ccb1470", "ECDSA"),
    ]),
    ("digicert", "api.deepseek.com", [
        ("DigiCert Global Root G2", "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f",
         "DigiCert, GeoTrust, Thawte, RapidSSL chains"),
        ("DigiCert Global Root CA", "4348a0e9444c78cb265e058d5e8944b4d84f9662bd26db257f8934a443c70161",
         "older DigiCert chains"),
    ]),
    ("sectigo", "", [
        ("USERTrust RSA Certification Authority",
         "e793c9b02fd8aa13e21c31228accb08119643b749c898964b1746d46c3d4cbd2", "Sectigo RSA"),
        ("USERTrust ECC Certification Authority",
         "4ff460d54b9c86dabfbcfc5712e0400d2bed3fbc4d4fbdaa86e06adcd2a9ad7a", "Sectigo ECDSA"),
    ]),
    ("amazon", "", [
        ("Amazon Root CA 1", "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
         "AWS-hosted APIs (ACM certificates)"),
    ]),
    ("godaddy", "api.telegram.org", [
        ("Go Daddy Root Certificate Authority - G2",
         "45140b3247eb9cc8c5b4f0d7b53091f73292089e6e5a63e2749dd3aca9198eda", "api.telegram.org"),
        ("Go Daddy Class 2 CA", "c3846bf24b9e93ca64274c0ec67c1ecc5e024ffcacd2d74019350e81fe546ae4",
         "cross-signs Go Daddy G2 (older api.telegram.org chains)"),
    ]),
]


def default_sources():
    """certifi's bundle (a dependency in .venv), then Debian's store, whichever exist."""
    out = []
    try:
        import certifi

        out.append(certifi.where())
    except ImportError:
        pass
    if os.path.isdir(STORE):
        out.append(STORE)
    return out


def _certs(source):
    if os.path.isdir(source):
        for fn in sorted(os.listdir(source)):
            if fn.endswith((".pem", ".crt")):
                try:
                    yield from certs.read_bundle(os.path.join(source, fn))
                except OSError:
                    pass
    else:
        yield from certs.read_bundle(source)


def find_roots(sources):
    """{sha256: DER} of every pinned root found in the sources. Raises SystemExit naming
    the roots none of them holds."""
    want = {fp for _, _, roots in GROUPS for _, fp, _ in roots}
    found = {}
    for src in sources:
        for c in _certs(src):
            fp = certs.sha256(c.der)
            if fp in want:
                found.setdefault(fp, c.der)
    missing = [label for _, _, roots in GROUPS for label, fp, _ in roots if fp not in found]
    if missing:
        raise SystemExit("gen_roots: not in %s: %s (give --bundle with a store that has them, e.g. "
                         "Debian's /etc/ssl/certs)" % (", ".join(sources) or "(no store found)", ", ".join(missing)))
    return found


def _bytes_literal(der, indent):
    """DER as a bytes literal, wrapped at 100 columns (\\x escapes: flash-exact, no decoding)."""
    text = "".join("\\x%02x" % b for b in der)
    width = 96 - indent
    step = width - width % 4
    lines = [text[i:i + step] for i in range(0, len(text), step)]
    pad = " " * indent
    return "\n".join(pad + ('b"%s"' % ln) for ln in lines)


def render(found):
    """{filename: text} of the generated modules."""
    files = {}
    table = [
        "# The CA roots the firmware trusts out of the box, by group (generated by tools/gen_roots.py;",
        "# do not edit). A connection loads one group: its roots are in the module of its name.",
        "#",
        "# ALL: (group, its roots, the hosts whose chains end at one of them), in the order a",
        "# host outside the map tries them. The map is best knowledge of the providers' chains",
        "# (2025-2026); a host whose CA changed verifies through the others (trust.py), and the",
        "# group that did is remembered in <workspace>/state/anchors. Bytes, and the name ALL that",
        "# the group modules use too: see docs/memory.md.",
        "ALL = (",
    ]
    total = 0
    for group, hosts, roots in GROUPS:
        labels = ", ".join(label for label, _, _ in roots)
        table.append('    (b"%s", b"%s",\n     b"%s"),' % (group, labels, hosts))
        mod = [
            "# Trust anchors of group %s (generated by tools/gen_roots.py; do not edit): DER bytes." % group,
            "# Frozen, they stay in flash; from .mpy, importing this module copies them into RAM, so",
            "# trust.py imports it only to build a context and drops it after.",
            "ALL = (",
        ]
        for label, fp, why in roots:
            der = found[fp]
            total += len(der)
            mod.append("    # %s (%d bytes): %s" % (label, len(der), why))
            mod.append("    # sha256 %s" % fp)
            mod.append(_bytes_literal(der, 4) + ",")
        mod.append(")")
        files["%s.py" % group] = "\n".join(mod) + "\n"
    table.append(")")
    table.insert(2, "# %d roots, %d bytes of DER in all." % (sum(len(r) for _, _, r in GROUPS), total))
    files["table.py"] = "\n".join(table) + "\n"
    return files


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", action="append", help="a PEM bundle or a folder of PEMs to take the "
                    "roots from (repeatable; default: certifi's bundle, then /etc/ssl/certs)")
    ap.add_argument("--out", default=OUT, help="where to write the modules (default: firmware/picoclaw/net/roots)")
    ap.add_argument("--check", action="store_true", help="compare with the files in --out, write nothing")
    a = ap.parse_args(argv)
    files = render(find_roots(a.bundle or default_sources()))
    stale = []
    for name, text in sorted(files.items()):
        path = os.path.join(a.out, name)
        try:
            with open(path) as f:
                same = f.read() == text
        except OSError:
            same = False
        if not same:
            stale.append(name)
            if not a.check:
                with open(path, "w") as f:
                    f.write(text)
    if a.check:
        if stale:
            print("gen_roots: differs from the pinned roots: %s (run python tools/gen_roots.py)" % ", ".join(stale))
            return 1
        print("gen_roots: %d files up to date" % len(files))
        return 0
    print("gen_roots: wrote %s" % (", ".join(stale) or "nothing (up to date)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
