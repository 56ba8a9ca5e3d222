#!/usr/bin/env python3
"""Turns a terminal capture with colours (`tmux capture-pane -e -p`) into an SVG.

    ansi2svg.py capture.ansi out.svg [COLUMNS ROWS]

Understands the SGR sequences tmux emits: bold, dim, italic, underline, reverse, the 16
named colours, 256-colour and 24-bit colours. Uses the palette of iptop's own SVG export.
"""
import html
import re
import sys
import unicodedata

CELL_W, CELL_H = 8.4, 18.0
BG, FG = "#1e1e1e", "#d4d4d4"
BASE = ["#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
        "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff"]


def x256(i):
    if i < 16:
        return BASE[i]
    if i < 232:
        i -= 16
        lv = lambda v: 0 if v == 0 else 55 + v * 40
        return "#%02x%02x%02x" % (lv(i // 36), lv((i // 6) % 6), lv(i % 6))
    v = 8 + (i - 232) * 10
    return "#%02x%02x%02x" % (v, v, v)


def sgr(state, params):
    ps = [int(p) if p else 0 for p in params.split(";")] if params else [0]
    i = 0
    while i < len(ps):
        p = ps[i]
        if p == 0:
            state.clear()
        elif p in (1, 2, 3, 4, 7):
            state[{1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "reverse"}[p]] = True
        elif p == 22:
            state.pop("bold", None); state.pop("dim", None)
        elif p in (23, 24, 27):
            state.pop({23: "italic", 24: "underline", 27: "reverse"}[p], None)
        elif 30 <= p <= 37:
            state["fg"] = BASE[p - 30]
        elif 90 <= p <= 97:
            state["fg"] = BASE[p - 90 + 8]
        elif 40 <= p <= 47:
            state["bg"] = BASE[p - 40]
        elif 100 <= p <= 107:
            state["bg"] = BASE[p - 100 + 8]
        elif p in (38, 48) and i + 1 < len(ps):
            key = "fg" if p == 38 else "bg"
            if ps[i + 1] == 5 and i + 2 < len(ps):
                state[key] = x256(ps[i + 2]); i += 2
            elif ps[i + 1] == 2 and i + 4 < len(ps):
                state[key] = "#%02x%02x%02x" % tuple(ps[i + 2:i + 5]); i += 4
        elif p == 39:
            state.pop("fg", None)
        elif p == 49:
            state.pop("bg", None)
        i += 1


def cells(line, state):
    """(char, look) per column; `state` carries over from the line before, as tmux
    writes only the changes."""
    out = []
    for m in re.finditer(r"\x1b\[([0-9;]*)m|\x1b\[[0-9;?]*[A-Za-z]|(.)", line):
        if m.group(2) is None:
            if m.group(0).endswith("m"):
                sgr(state, m.group(1))
            continue
        ch = m.group(2)
        look = dict(state)
        out.append((ch, look))
        if unicodedata.east_asian_width(ch) in "WF":
            out.append(("", look))
    return out


def colours(look):
    fg, bg = look.get("fg", FG), look.get("bg", BG)
    if look.get("reverse"):
        fg, bg = bg, fg
    return fg, bg


def main():
    src, dst = sys.argv[1], sys.argv[2]
    lines = open(src, encoding="utf-8", errors="replace").read().split("\n")
    cols = int(sys.argv[3]) if len(sys.argv) > 3 else 120
    rows = int(sys.argv[4]) if len(sys.argv) > 4 else len(lines)
    lines = (lines + [""] * rows)[:rows]
    w, h = cols * CELL_W, rows * CELL_H
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
           f'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14">',
           f'<rect width="100%" height="100%" fill="{BG}"/>']
    state = {}
    for y, line in enumerate(lines):
        cs = cells(line, state)[:cols]
        x = 0
        while x < len(cs):
            look = cs[x][1]
            start = x
            text = ""
            while x < len(cs) and cs[x][1] == look:
                text += cs[x][0]
                x += 1
            fg, bg = colours(look)
            px, py, rw = start * CELL_W, y * CELL_H, (x - start) * CELL_W
            if bg != BG:
                svg.append(f'<rect x="{px:.1f}" y="{py:.1f}" width="{rw:.1f}" height="{CELL_H}" fill="{bg}"/>')
            if text.strip():
                attrs = f'fill="{fg}"'
                if look.get("bold"):
                    attrs += ' font-weight="bold"'
                if look.get("italic"):
                    attrs += ' font-style="italic"'
                if look.get("underline"):
                    attrs += ' text-decoration="underline"'
                if look.get("dim"):
                    attrs += ' opacity="0.6"'
                svg.append(f'<text x="{px:.1f}" y="{py + CELL_H * 0.75:.1f}" {attrs} textLength="{rw:.1f}" '
                           f'lengthAdjust="spacingAndGlyphs" xml:space="preserve">{html.escape(text)}</text>')
    svg.append("</svg>")
    open(dst, "w", encoding="utf-8").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
