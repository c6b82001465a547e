#!/usr/bin/env python3
"""Build the fuzzer's seed corpus and dictionary from the protocol's own sources.

    python3 Fuzz/wire/make_seeds.py SEED_DIR DICT_OUT

SEED_DIR (normally Fuzz/wire/corpus, committed) gets one file per connection of every
conformance transcript: the bytes that connection sends (`>` lines with CRLF
appended, `>>` lines as written), in order, cut at 4 KiB. Files no longer
produced are removed, so the folder always mirrors Protocol/conformance;
identical streams are kept once.

DICT_OUT (in the build folder) is Fuzz/wire/docket.dict plus every verb of
ClientParser's Verb table and every option word of JobCommand.swift that the
committed dictionary lacks, so a new verb or option is fuzzed with its word at
once; the missing words are listed on stderr so that the committed file can
catch up.

Transcripts are read with Protocol/conformance/run.py's own parser, the one
the conformance suite uses. Python 3 standard library only.
"""

import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONFORMANCE = os.path.join(ROOT, "Protocol", "conformance")
sys.dont_write_bytecode = True  # leave no __pycache__ in Protocol/
sys.path.insert(0, CONFORMANCE)
import run  # noqa: E402  (Protocol/conformance/run.py)


# libFuzzer runs with -max_len=4096 (scripts/fuzz.sh), so longer seeds would be cut anyway;
# cutting them here keeps the committed corpus small (limits/store_full sends a megabyte).
MAX_SEED = 4096


def seeds():
    """(name, bytes) for each connection of each transcript that sends anything."""
    for area in sorted(os.listdir(CONFORMANCE)):
        folder = os.path.join(CONFORMANCE, area)
        if not os.path.isdir(folder):
            continue
        for entry in sorted(os.listdir(folder)):
            if not entry.endswith(".t"):
                continue
            transcript = run.load_transcript(os.path.join(folder, entry))
            streams = {}
            for step in transcript.steps:
                if step.kind in ("send", "send_raw"):
                    streams[step.conn] = streams.get(step.conn, b"") + step.data
            for conn, data in sorted(streams.items()):
                yield "%s-%s-%s" % (area, entry[:-2], conn), data


def write_seeds(directory):
    os.makedirs(directory, exist_ok=True)
    wanted = {}
    seen = set()
    for name, data in seeds():
        data = data[:MAX_SEED]
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        wanted[name] = data
    for name, data in wanted.items():
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    continue
        except FileNotFoundError:
            pass
        with open(path, "wb") as f:
            f.write(data)
    for name in os.listdir(directory):
        if name not in wanted:
            os.remove(os.path.join(directory, name))
    total = sum(len(d) for d in wanted.values())
    print("seeds: %d files, %d bytes in %s" % (len(wanted), total, os.path.relpath(directory, ROOT)))


def source_words():
    """Verbs (upper case) and option words (`word=`) the wire sources recognise."""
    wire = os.path.join(ROOT, "Sources", "DocketWire")
    with open(os.path.join(wire, "ClientParser.swift")) as f:
        parser = f.read()
    with open(os.path.join(wire, "JobCommand.swift")) as f:
        commands = f.read()
    verbs = re.findall(r'\("([a-z]+)", \.', parser)
    options = re.findall(r'case "([a-z_]+)"', commands)
    options += re.findall(r'Option\.equals\(bytes, key, "([a-z_]+)"\)', commands)
    values = re.findall(r'Option\.equals\(bytes, raw, "([a-z_]+)"\)', commands)
    words = [v.upper() for v in verbs] + [o + "=" for o in options] + values
    return list(dict.fromkeys(words))


def write_dictionary(out):
    with open(os.path.join(HERE, "docket.dict")) as f:
        committed = f.read()
    present = set(re.findall(r'^[^#\n]*?"((?:[^"\\]|\\.)*)"\s*$', committed, re.M))
    missing = [w for w in source_words() if w not in present]
    with open(out, "w") as f:
        f.write(committed)
        if missing:
            f.write("\n# Added from the sources by make_seeds.py\n")
            for word in missing:
                f.write('"%s"\n' % word)
    if missing:
        sys.stderr.write("fuzz: Fuzz/wire/docket.dict lacks %s (added for this run)\n" % " ".join(missing))


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    write_seeds(sys.argv[1])
    write_dictionary(sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
