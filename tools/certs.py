"""Certificates on the computer (host only): PEM bundles, names, and which root issued a chain.

Used by tools/gen_roots.py (the firmware's shipped roots) and `tools/flash.py ca` (the root
for tls.ca_file). Standard library only: a certificate is walked as DER just far enough to
read its issuer, subject and key identifiers; signatures are not checked here (the board
checks them, and a root picked by name that did not sign the chain simply fails there).
"""
import base64
import hashlib
import re

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", re.S)


def pem_certs(data):
    """The DER certificates of PEM text (bytes or str), in order; other text is ignored."""
    if isinstance(data, str):
        data = data.encode()
    return [base64.b64decode(b"".join(m.group(1).split())) for m in _PEM.finditer(data)]


def pem(der):
    """One certificate as PEM text (64 characters a line, as openssl writes it)."""
    b64 = base64.b64encode(der).decode()
    return "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % "\n".join(
        b64[i:i + 64] for i in range(0, len(b64), 64))


def sha256(der):
    return hashlib.sha256(der).hexdigest()


def _tlv(b, i):
    """(tag, start of content, end of content) of the DER element at b[i]."""
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    return tag, i, i + n


def _children(b, start, end):
    out = []
    while start < end:
        tag, s, e = _tlv(b, start)
        out.append((tag, start, s, e))  # tag, element start, content start, end
        start = e
    return out


class Cert:
    """A certificate's DER with the raw (DER) issuer and subject names and key identifiers."""

    def __init__(self, der):
        self.der = bytes(der)
        try:
            _, s, e = _tlv(self.der, 0)
            _, ts, te = _tlv(self.der, s)  # tbsCertificate
            f = _children(self.der, ts, te)
            if f[0][0] == 0xA0:  # [0] version
                f = f[1:]
            # serial, signature algorithm, issuer, validity, subject, subjectPublicKeyInfo, ...
            self.issuer = self.der[f[2][1]:f[2][3]]
            self.subject = self.der[f[4][1]:f[4][3]]
            self.ski = self.aki = None
            for tag, _el, cs, ce in f[6:]:
                if tag == 0xA3:  # [3] extensions
                    self._extensions(cs, ce)
        except (IndexError, ValueError):
            raise ValueError("not an X.509 certificate")

    def _extensions(self, s, e):
        _, s, e = _tlv(self.der, s)  # SEQUENCE OF Extension
        for _t, _el, es, ee in _children(self.der, s, e):
            parts = _children(self.der, es, ee)
            oid = self.der[parts[0][2]:parts[0][3]]
            value = self.der[parts[-1][2]:parts[-1][3]]  # OCTET STRING (after an optional critical)
            if oid == b"\x55\x1d\x0e":  # subjectKeyIdentifier: OCTET STRING
                _, vs, ve = _tlv(value, 0)
                self.ski = value[vs:ve]
            elif oid == b"\x55\x1d\x23":  # authorityKeyIdentifier: SEQUENCE { [0] keyIdentifier }
                _, vs, ve = _tlv(value, 0)
                for tag, _el, ks, ke in _children(value, vs, ve):
                    if tag == 0x80:
                        self.aki = value[ks:ke]

    @property
    def self_signed(self):
        return self.issuer == self.subject and (self.aki is None or self.ski is None or self.aki == self.ski)

    def name(self):
        """The subject's CN (or O), for messages."""
        for oid, label in ((b"\x55\x04\x03", "CN"), (b"\x55\x04\x0a", "O")):
            i = self.subject.find(b"\x06\x03" + oid)
            if i >= 0:
                _, s, e = _tlv(self.subject, i + 5)
                return self.subject[s:e].decode("utf-8", "replace")
        return sha256(self.der)[:16]

    def issued(self, child):
        """True if this certificate's name (and key id, when both say one) issued `child`."""
        return child.issuer == self.subject and (child.aki is None or self.ski is None or child.aki == self.ski)


def read_bundle(path):
    """The certificates of a PEM bundle file, as Cert objects (unparseable entries skipped)."""
    with open(path, "rb") as f:
        data = f.read()
    out = []
    for der in pem_certs(data):
        try:
            out.append(Cert(der))
        except ValueError:
            pass
    return out


def root_for_chain(chain, bundle):
    """The bundle root that anchors a served chain (leaf first, as `openssl s_client
    -showcerts` prints it): the root that issued its last certificate; when that one is
    cross-signed by a root the bundle lacks, the root that issued an earlier one. A chain
    that ends at a root the bundle holds gives that root. Raises LookupError."""
    if not chain:
        raise LookupError("no certificate in the chain")
    for c in reversed(chain):
        for r in bundle:
            if r.der == c.der and c.self_signed:
                return r
        for r in bundle:
            if r.self_signed and r.issued(c):
                return r
    raise LookupError("no root in the bundle issued any certificate of the chain (its last one "
                      "was issued by %s)" % _issuer_name(chain[-1]))


def _issuer_name(c):
    probe = Cert.__new__(Cert)
    probe.subject = c.issuer
    probe.der = c.der
    return probe.name()


def default_bundle():
    """certifi's bundle (installed with the host tools), else Debian's."""
    try:
        import certifi

        return certifi.where()
    except ImportError:
        return "/etc/ssl/certs/ca-certificates.crt"


def shipped(der):
    """The firmware group that already ships this root (tools/gen_roots.py), or None."""
    import gen_roots

    fp = sha256(der)
    for group, _hosts, roots in gen_roots.GROUPS:
        if any(r[1] == fp for r in roots):
            return group
    return None


def showcerts(host, port=443):
    """The openssl command that prints the chain a host serves (run where the network is)."""
    return "openssl s_client -showcerts -servername %s -connect %s:%d </dev/null" % (host, host, port)


def ca_for_host(host, chain_path, bundle_path, out_path):
    """`flash.py ca`: write the bundle's root for the chain in chain_path to out_path.
    Returns the lines to print; raises ValueError with one line for the user."""
    try:
        with open(chain_path, "rb") as f:
            chain = [Cert(d) for d in pem_certs(f.read())]
    except OSError as e:
        raise ValueError("--chain %s: %s" % (chain_path, e.strerror or e))
    if not chain:
        raise ValueError("--chain %s holds no certificate: save what `%s` prints into it"
                         % (chain_path, showcerts(host)))
    try:
        bundle = read_bundle(bundle_path)
    except OSError as e:
        raise ValueError("--bundle %s: %s" % (bundle_path, e.strerror or e))
    if not bundle:
        raise ValueError("--bundle %s holds no certificate (want a PEM bundle such as "
                         "/etc/ssl/certs/ca-certificates.crt)" % bundle_path)
    try:
        root = root_for_chain(chain, bundle)
    except LookupError as e:
        raise ValueError("%s: %s; a private CA? then its own root certificate is what goes in "
                         "tls.ca_file" % (chain_path, e))
    with open(out_path, "w") as f:
        f.write("# %s: the root CA of %s's chain (tools/flash.py ca), for config tls.ca_file\n%s"
                % (root.name(), host, pem(root.der)))
    lines = ["ca: %s's chain ends at %s (sha256 %s)" % (host, root.name(), sha256(root.der)),
             "ca: wrote %s; put it beside config.json and set \"tls\": {\"ca_file\": \"%s\"} "
             "(flash.py deploy copies it)" % (out_path, out_path.rsplit("/", 1)[-1])]
    group = shipped(root.der)
    if group:
        lines.append("ca: note: the firmware already ships this root (group %s): it is tried "
                     "for %s without tls.ca_file" % (group, host))
    return lines
