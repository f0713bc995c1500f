#!/usr/bin/env python3
"""tsc — `tscctl logs` formats as their readers see them.

test_logs_format --emit DIR writes all.txt, all.jsonl, all.shiviz and
filtered.shiviz; this reads them back:
  jsonl   every line is one JSON object (python's json); texts decode to the
          bytes written, invalid UTF-8 as U+FFFD; the error object last.
  shiviz  the first line is the regex, then a blank line; the regex, with
          its JavaScript named groups (?<x> translated to python's (?P<x>,
          matched over the rest yields one event per record; every clock
          parses as JSON and passes ShiViz's checks: it names its own host,
          each host's own values are 1, 2, 3, ... in order, and an entry
          names only hosts with events, no larger than their count.
  text    one line per record.
Usage: validate_logs.py TEST_LOGS_FORMAT_BINARY"""
import json
import os
import re
import subprocess
import sys
import tempfile

HOSTILE = ('say "hi" \\ back\nnext\rline\x01\x1b[0m \ufffd\ufffd '
           '\u2028 tab\there \u00e9 end')


def check_jsonl(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    assert lines[-1] == "", "no final newline"
    objs = [json.loads(l) for l in lines[:-1]]
    recs = [o for o in objs if "error" not in o]
    errs = [o["error"] for o in objs if "error" in o]
    assert len(recs) == 8 and len(errs) == 1, (len(recs), len(errs))
    assert [r["index"] for r in recs] == list(range(1, 9))
    assert recs[1]["text"] == HOSTILE, repr(recs[1]["text"])
    assert recs[4]["text"] == "pong\x00nul x"
    assert recs[6]["clock"] == {"m1": 2, 'm 2"q': 3, "00000000000000c3": 1}, recs[6]["clock"]
    for r in recs:
        assert r["clock"][r["name"]] == r["seq"], r
        assert r["run"] == 42 and isinstance(r["lamport"], int)
    assert recs[0]["case"] is None and recs[1]["case_name"] == "case_b"
    assert errs[0]["kind"] == "gap" and errs[0]["a"]["seq"] == 3 and errs[0]["b"]["seq"] == 5


def check_shiviz(path, n_events, expect_hosts):
    data = open(path, encoding="utf-8").read()
    first, blank, body = data.split("\n", 2)
    assert blank == "", "no blank line after the regex"
    regex = re.sub(r"\(\?<(\w+)>", r"(?P<\1>", first)
    events = list(re.finditer(regex, body))
    assert len(events) == n_events, (len(events), body)
    # The matches cover the body: nothing is skipped between events.
    covered = "".join(m.group(0) + "\n" for m in events)
    assert covered == body, "events do not cover the body"
    counts = {}
    for m in events:
        host, clock = m.group("host"), json.loads(m.group("clock"))
        assert clock.get(host) == counts.get(host, 0) + 1, (host, clock, counts)
        counts[host] = clock[host]
    hosts = set(counts)
    assert hosts == expect_hosts, hosts
    for m in events:
        for h, c in json.loads(m.group("clock")).items():
            assert h in hosts and 1 <= c <= counts[h], (h, c, counts)
    return [m.group("event") for m in events]


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="tsc-logs.") as d:
        subprocess.run([binary, "--emit", d], check=True)
        check_jsonl(os.path.join(d, "all.jsonl"))
        ev = check_shiviz(os.path.join(d, "all.shiviz"), 8,
                          {"m1", "m_2_q", "00000000000000c3"})
        assert ev[1] == HOSTILE.replace("\n", "\\n").replace("\r", "\\r") \
            .replace("\u2028", "\\u2028").replace("\x01", "\ufffd") \
            .replace("\x1b", "\ufffd"), repr(ev[1])
        ev = check_shiviz(os.path.join(d, "filtered.shiviz"), 4, {"m_2_q"})
        assert ev == ["ping x", "pong\ufffdnul x", "user x", "after the gap x"], ev
        text = open(os.path.join(d, "all.txt"), encoding="utf-8").read()
        assert len(text.split("\n")) == 9 and text.endswith("\n")
    print("ok: jsonl read by json, shiviz matched by its regex and checked like ShiViz")


if __name__ == "__main__":
    main()
