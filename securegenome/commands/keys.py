"""``securegenome keys``: TLS keys and certificates for the parties of multi-host runs."""

from __future__ import annotations

import argparse
import os

from ..errors import InputError

ORDER = 80

DESCRIPTION = """\
Create the TLS material for a multi-host run: a private certificate authority (CA) and, for every
party, a private key and a certificate naming that party, signed by the CA.  Parties then encrypt
their traffic and accept only peers holding a certificate of this CA for the party id they claim.

Output, one folder per party -- copy folder party_I (and only it) to party I's host, and pass it
there as --tls-dir:
  DIR/party_I/party_I.key    party I's private key (mode 600; never leaves party I's host)
  DIR/party_I/party_I.crt    party I's certificate (common name "MPyC party I")
  DIR/party_I/mpyc_ca.crt    the CA certificate every party trusts
The CA's private key is not kept, so no one can issue further certificates for this set of parties;
for new parties, create new keys for everyone.  Whoever runs this command has seen every party's key:
let a party that trusts no one else overwrite its .key/.crt with its own (see docs/deployment.md)."""

EPILOG = """\
example:
  securegenome keys --parties 3 -o tls
  scp -r tls/party_1 hospital-b:securegenome-tls      # likewise party_2; party_0 stays here
  securegenome km --data 0:a.csv --party-id 0 --hosts a.org:11365,b.org:11366,c.org:11367 \\
      --tls-dir tls/party_0"""


def register(sub):
    p = sub.add_parser("keys", help="create TLS keys and certificates for the parties of a multi-host run",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parties", type=int, default=3, metavar="M", help="number of parties (default 3)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to create the party folders in")
    p.add_argument("--days", type=int, default=365, metavar="N", help="validity of the certificates (default 365)")
    p.add_argument("--force", action="store_true", help="replace existing keys in DIR")
    p.set_defaults(func=main)


def main(args):
    from ..core.tls import make_keys

    existing = [f"party_{i}" for i in range(max(args.parties, 0))
                if os.path.exists(os.path.join(args.output, f"party_{i}"))]
    if existing and not args.force:
        raise InputError(f"{args.output} already holds {', '.join(existing)}; use --force to replace the keys")
    try:
        folders = make_keys(args.output, args.parties, days=args.days)
    except OSError as exc:
        raise InputError(f"-o {args.output}: {exc.strerror or exc}") from None
    for pid, folder in enumerate(folders):
        print(f"party {pid}: {folder}{os.sep}")
    print("copy each party's folder to its host and pass it as --tls-dir there (see docs/deployment.md)")
    return 0
