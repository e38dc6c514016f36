#!/usr/bin/python3
"""Regenerates test/fixtures/seq_toolkit/*.json from Biopython (Debian python3-biopython 1.80).

Run with the system Python, which has Biopython:  /usr/bin/python3 scripts/gen-seq-fixtures.py
The random seed is fixed, so the output is the same on every run (for the same Biopython).

The operations without a Biopython method have their reference definitions here, written as
plainly as possible on top of Biopython primitives (Seq.translate, Seq.reverse_complement,
Bio.SeqUtils.nt_search); plugins/seq_toolkit/operations.ts documents the same definitions.
"""
import json
import os
import random
import warnings
from collections import Counter

import Bio
from Bio import BiopythonWarning
from Bio.Data import CodonTable
from Bio.Seq import Seq, reverse_complement as rc_str
from Bio.SeqIO.FastaIO import SimpleFastaParser
from Bio.SeqUtils import gc_fraction, nt_search

try:
    from Bio import BiopythonDeprecationWarning
except ImportError:  # pragma: no cover
    BiopythonDeprecationWarning = BiopythonWarning

warnings.simplefilter("ignore", BiopythonWarning)
warnings.simplefilter("ignore", BiopythonDeprecationWarning)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "seq_toolkit")
SEED = 20261203
TABLES = sorted(CodonTable.ambiguous_generic_by_id)
CODON_LETTERS = "ACGTURYSWKMBDHVNX-."  # must match plugins/seq_toolkit/translate.ts
GAPS = "-."


def err(fn):
    """fn() or {'error': message} when Biopython raises."""
    try:
        return {"result": fn()}
    except Exception as e:  # TranslationError, ValueError, ...
        return {"error": f"{type(e).__name__}: {e}"}


# ---------------------------------------------------------------- reference definitions

def ref_translate(s, table, to_stop):
    return str(Seq(s).translate(table=table, to_stop=to_stop))


def ref_composition(s):
    return dict(sorted(Counter(s.upper()).items()))


def ref_kmer_count(s, k):
    u = s.upper()
    c = Counter(u[i:i + k] for i in range(len(u) - k + 1) if not any(g in u[i:i + k] for g in GAPS))
    return dict(sorted(c.items()))


def ref_find_orfs(s, table, min_length):
    L = len(s)
    orfs = []
    strands = [("+", s), ("-", str(Seq(s).reverse_complement()))]
    for strand, t in strands:
        for frame in range(3):
            n = (L - frame) // 3 * 3 if L > frame else 0
            part = t[frame:frame + n]
            protein = str(Seq(part).translate(table=table))  # raises on an invalid codon
            start = None
            for ci in range(len(protein)):
                codon = part[3 * ci:3 * ci + 3].upper().replace("U", "T")
                if start is None:
                    if codon == "ATG":
                        start = ci
                elif protein[ci] == "*":
                    a, b = frame + 3 * start, frame + 3 * ci + 3
                    if b - a >= min_length:
                        fs, fe = (a, b) if strand == "+" else (L - b, L - a)
                        orfs.append({"strand": strand, "frame": frame, "start": fs, "end": fe,
                                     "length": b - a, "protein": protein[start:ci]})
                    start = None
    orfs.sort(key=lambda o: (o["start"], o["end"], o["strand"]))
    return orfs


def ref_find_motif(s, motif):
    S = s.upper().replace("U", "T")
    m = motif.upper().replace("U", "T")
    hits = [{"strand": "+", "start": p, "end": p + len(m), "matched": s[p:p + len(m)]} for p in nt_search(S, m)[1:]]
    r = rc_str(m)
    hits += [{"strand": "-", "start": p, "end": p + len(m), "matched": s[p:p + len(m)]} for p in nt_search(S, r)[1:]]
    hits.sort(key=lambda h: (h["start"], h["strand"]))
    return hits


# ---------------------------------------------------------------- random sequences

def rand_seq(rng, kind, n):
    if kind == "dna":
        letters = "ACGT"
    elif kind == "rna":
        letters = "ACGU"
    elif kind == "iupac_dna":
        letters = "ACGT" * 6 + "RYSWKMBDHVN"
    elif kind == "iupac_rna":
        letters = "ACGU" * 6 + "RYSWKMBDHVN"
    elif kind == "gapped":
        letters = "ACGT" * 4 + "-" * 3 + "N"
    elif kind == "dotted":
        letters = "ACGT" * 5 + ".-X"
    elif kind == "mixed_tu":
        letters = "ACGTU"
    elif kind == "protein":
        letters = "ACDEFGHIKLMNPQRSTVWY*"
    elif kind == "orfy":
        # Rich in ATG and stop codons so that ORFs exist at small min_length.
        parts = []
        while sum(map(len, parts)) < n:
            parts.append(rng.choice(["ATG", "TAA", "TAG", "TGA", "AGA", "TCA", "TTA"] + ["".join(rng.choice("ACGT") for _ in range(3))] * 6))
        return "".join(parts)[:n]
    else:
        raise ValueError(kind)
    return "".join(rng.choice(letters) for _ in range(n))


def case_variant(rng, s):
    mode = rng.choice(["upper", "lower", "mixed", "upper"])
    if mode == "upper":
        return s
    if mode == "lower":
        return s.lower()
    return "".join(c.lower() if rng.random() < 0.4 else c for c in s)


def make_cases(rng):
    kinds = ["dna"] * 8 + ["rna"] * 4 + ["iupac_dna"] * 4 + ["iupac_rna"] * 2 + ["gapped"] * 2 + ["dotted", "mixed_tu", "orfy", "orfy", "orfy"]
    seqs = []
    for i in range(150):
        kind = kinds[i % len(kinds)]
        n = rng.choice([0, 1, 2, 3, 5, 30, 31, 32, 60, 61, 100, 150, 199, 250, 333])
        seqs.append((kind, case_variant(rng, rand_seq(rng, kind, n))))
    for i in range(12):
        seqs.append(("protein", case_variant(rng, rand_seq(rng, "protein", rng.choice([5, 40, 120])))))
    # Every IUPAC code in both cases, and every codon of the ambiguous letters is covered by codons.json.
    seqs.append(("iupac_all", "ACGTURYSWKMBDHVNXacgturyswkmbdhvnx-."))
    seqs.append(("iupac_all_dna", "ACGTRYSWKMBDHVNXacgtryswkmbdhvnx-."))

    cases = []
    for kind, s in seqs:
        c = {"kind": kind, "sequence": s, "ops": []}
        ops = c["ops"]
        ops.append({"operation": "reverse", "params": {}, **err(lambda: s[::-1])})
        ops.append({"operation": "length", "params": {}, **err(lambda: len(Seq(s)))})
        ops.append({"operation": "composition", "params": {}, **err(lambda: ref_composition(s))})
        for k in sorted(set([1, 2, rng.choice([3, 4, 5, 7])])):
            ops.append({"operation": "kmer_count", "params": {"k": k}, **err(lambda: ref_kmer_count(s, k))})
        if kind != "protein":
            ops.append({"operation": "reverse_complement", "params": {}, **err(lambda: str(Seq(s).reverse_complement()))})
            ops.append({"operation": "complement", "params": {}, **err(lambda: str(Seq(s).complement()))})
            ops.append({"operation": "transcribe", "params": {}, **err(lambda: str(Seq(s).transcribe()))})
            ops.append({"operation": "back_transcribe", "params": {}, **err(lambda: str(Seq(s).back_transcribe()))})
            for mode in ["remove", "ignore", "weighted"]:
                ops.append({"operation": "gc_content", "params": {"ambiguous": mode}, **err(lambda: gc_fraction(s, mode))})
            for table in sorted(set([1, rng.choice(TABLES), rng.choice(TABLES)])):
                for to_stop in [False, True]:
                    ops.append({"operation": "translate", "params": {"table": table, "to_stop": to_stop},
                                **err(lambda: ref_translate(s, table, to_stop))})
            for min_length in [rng.choice([3, 6, 9, 30]), 75]:
                table = rng.choice([1, 1, 2, 11, rng.choice(TABLES)])
                ops.append({"operation": "find_orfs", "params": {"table": table, "min_length": min_length},
                            **err(lambda: ref_find_orfs(s, table, min_length))})
            for motif in [rng.choice(["GAATTC", "ACGT", "TATA", "GG", "A", "CCWGG", "RGATCY", "NNN", "GCNGC", "acg", "ACGU", "YR"])]:
                ops.append({"operation": "find_motif", "params": {"motif": motif}, **err(lambda: ref_find_motif(s, motif))})
        cases.append(c)
    return cases


def make_codons():
    tables = {}
    dual = {}
    for t in TABLES:
        out = []
        for a in CODON_LETTERS:
            for b in CODON_LETTERS:
                for c in CODON_LETTERS:
                    try:
                        aa = str(Seq(a + b + c).translate(table=t))
                        assert len(aa) == 1
                        out.append(aa)
                    except Exception:
                        out.append("!")
        tables[str(t)] = "".join(out)
        try:
            Seq("ATG").translate(table=t, to_stop=True)
            dual[str(t)] = False
        except ValueError:
            dual[str(t)] = True
    return {"letters": CODON_LETTERS, "tables": tables, "to_stop_refused": dual}


def make_fasta_cases():
    texts = {
        "simple": ">seq1 first one\nACGT\nACGT\n>seq2\nGGCC\n",
        "crlf": ">a desc here\r\nACGT\r\nAC\r\n>b\r\nTTTT\r\n",
        "blank_lines": "\n\n>a\nAC\n\nGT\n\n>b\n\nTT\n",
        "no_final_newline": ">a\nACGTACGT",
        "wide_and_narrow": ">w\n" + "ACGT" * 50 + "\n>n\n" + "\n".join("ACG"[i % 3] for i in range(20)) + "\n",
        "spaces_in_lines": ">s x y\nAC GT \nA C\t\n",
        "empty_record": ">e empty\n>f\nACGT\n",
        "tabs_in_header": ">id\twith tab\nACGT\n",
        "trailing_ws_header": ">id   \nACGT\n",
        "leading_ws_header": ">  lead  space\nACGT\n",
    }
    out = []
    for name, text in texts.items():
        from io import StringIO
        recs = []
        # Biopython's parser reads lines with universal newlines.
        for title, seq in SimpleFastaParser(StringIO(text.replace("\r\n", "\n"))):
            rid = title.split(None, 1)[0] if title else ""
            recs.append({"id": rid, "title": title, "sequence": seq})
        out.append({"name": name, "text": text, "records": recs})
    return out


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT, help="output directory (default: test/fixtures/seq_toolkit)")
    out = ap.parse_args().out
    rng = random.Random(SEED)
    os.makedirs(out, exist_ok=True)
    meta = {"biopython": Bio.__version__, "seed": SEED}
    files = {
        "cases.json": {**meta, "cases": make_cases(rng)},
        "codons.json": {**meta, **make_codons()},
        "fasta.json": {**meta, "files": make_fasta_cases()},
    }
    for name, data in files.items():
        with open(os.path.join(out, name), "w") as f:
            json.dump(data, f, separators=(",", ":"), sort_keys=False)
            f.write("\n")
        print(f"wrote {name}: {os.path.getsize(os.path.join(out, name))} bytes")


if __name__ == "__main__":
    main()
