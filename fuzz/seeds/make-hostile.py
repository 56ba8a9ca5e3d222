#!/usr/bin/env python3
"""Writes the fuzz seeds for hostile rule text and jump graphs: comments holding line
breaks (one copying the next rule's line), terminal escapes, bidi and zero-width
characters, identical rules, deep and wide jump graphs. Run from the repository root."""
import os

TITLE = "num      pkts      bytes target     prot opt in     out     source               destination         "


def rule(n, target, extra="", p=0, b=0, src="0.0.0.0/0", dst="0.0.0.0/0", i="*", o="*"):
    line = f"{n:<4} {p:>8} {b:>8} {target:<10} 0    --  {i:<6} {o:<6}  {src:<20} {dst:<20}"
    return (line + " " + extra) if extra else line


def chain(name, rules, policy=None, refs=0):
    head = f"Chain {name} (policy {policy} 0 packets, 0 bytes)" if policy else f"Chain {name} ({refs} references)"
    return "\n".join([head, TITLE] + rules) + "\n"


def listing(chains):
    return "\n".join(chains)


HOSTILE = "e\x1b]0;pwned\x07\x1b[2J x\r y \u009b1m z \u202e w \u200b v \u2066 \ufeff"
FAKE = "ok */\n2   999999 88888888 DROP all -- * * 6.6.6.6 0.0.0.0/0 /* fake"

seeds = {}
seeds["comment-newline"] = listing([
    chain("INPUT", [rule(1, "T")], policy="ACCEPT"),
    chain("T", [
        rule(1, "ACCEPT", f"/* {FAKE} */"),
        rule(2, "RETURN", f"/* {HOSTILE} */", p=5, b=300),
        rule(3, "ACCEPT", "/* a\n\nb\n# not a warning\nnum pkts */ tcp dpt:80"),
        rule(4, "ACCEPT"),
    ], refs=1),
])
seeds["identical-rules"] = listing([
    chain("FORWARD", [rule(k + 1, "ACCEPT", "tcp dpt:80", p=k * 7, b=k * 420) for k in range(6)]
          + [rule(7, "DROP", "/* same */"), rule(8, "DROP", "/* same */")], policy="DROP"),
])
# (sizes keep each export seed, two polls, under libFuzzer's -max_len of 64 KiB)
deep = [chain("INPUT", [rule(1, "C0")], policy="ACCEPT")]
for k in range(80):
    nxt = f"C{k + 1}" if k < 79 else "C0"  # a cycle at the bottom
    deep.append(chain(f"C{k}", [rule(1, nxt, p=k, b=k * 60), rule(2, "RETURN", f"/* depth {k}\n */")], refs=1))
seeds["deep-jumps"] = listing(deep)
wide = [chain("INPUT", [rule(k + 1, f"W{k}", p=k) for k in range(60)], policy="ACCEPT")]
for k in range(60):
    wide.append(chain(f"W{k}", [rule(1, "SHARED"), rule(2, "SHARED", "/* twice */")], refs=1))
wide.append(chain("SHARED", [rule(1, "DROP", f"/* {HOSTILE} */")], refs=120))
seeds["wide-jumps"] = listing(wide)
twice = [chain("INPUT", [rule(1, "J0")], policy="ACCEPT")]
for k in range(30):
    twice.append(chain(f"J{k}", [rule(1, f"J{k + 1}"), rule(2, f"J{k + 1}")], refs=2))
twice.append(chain("J30", [rule(1, "ACCEPT")], refs=2))
seeds["twice-jumps"] = listing(twice)

here = os.path.dirname(os.path.abspath(__file__))
for name, text in seeds.items():
    with open(os.path.join(here, "listings", f"hostile-{name}.txt"), "w") as f:
        f.write(text)
    # export: a split byte, then two polls (the second with moved counters and a copy
    # inserted on top); 128: split in the middle
    second = text.replace("        0        0 ", "        3      180 ", 5)
    data = text + second
    cut = len(text.encode())
    split = round(cut * 255 / len(data.encode()))
    with open(os.path.join(here, "export", f"{name}.bin"), "wb") as f:
        f.write(bytes([split]) + data.encode())
