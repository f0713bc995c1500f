#!/usr/bin/env bash
# tsc — the results formats as their real readers see them. test_results
# --emit writes every fixture (all_pass, failures, init_failed, running,
# cancelled, failures_logs: failures with its log section) in every format;
# then:
#   junit  xmllint validates it against docs/junit.xsd, and the text of a
#          <system-out> reads back with the script's "</system-out>" in it;
#   json   python3 parses it; a few values are checked after decoding;
#   tap    prove parses it without "Parse errors" and exits 0 only for the
#          run that passed; TAP::Parser reads the YAML diagnostics back.
# Exit 77 (skipped) when one of the tools is missing.
# Usage: validate.sh TEST_RESULTS_BINARY   (TSC_SOURCE_DIR in the environment)
set -uo pipefail
BIN=${1:?usage: validate.sh TEST_RESULTS_BINARY}
XSD=${TSC_SOURCE_DIR:?TSC_SOURCE_DIR not set}/docs/junit.xsd
for tool in xmllint prove python3 perl; do
  command -v "$tool" >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done
DIR=$(mktemp -d /tmp/tsc-results.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

"$BIN" --emit "$DIR" || { echo "FAIL: $BIN --emit"; exit 1; }
FIXTURES="all_pass failures init_failed running cancelled failures_logs"

for fx in $FIXTURES; do
  xmllint --noout --schema "$XSD" "$DIR/$fx.xml" 2>"$DIR/$fx.xmllint" ||
    fail "$fx.xml does not validate: $(cat "$DIR/$fx.xmllint")"
  python3 -m json.tool "$DIR/$fx.json" >/dev/null 2>"$DIR/$fx.jsonerr" ||
    fail "$fx.json is not JSON: $(cat "$DIR/$fx.jsonerr")"
  out=$(cd "$DIR" && prove -v -e cat "$fx.tap" 2>&1)
  rc=$?
  if grep -q "Parse errors" <<<"$out"; then fail "prove: parse errors in $fx.tap: $out"; fi
  if [ "$fx" = all_pass ]; then
    [ $rc -eq 0 ] || fail "prove exits $rc for all_pass.tap: $out"
  else
    [ $rc -ne 0 ] || fail "prove exits 0 for $fx.tap, which has failures"
  fi
done

# The schema is not a rubber stamp: a misspelt attribute fails it.
sed 's/<testcase classname=/<testcase clasname=/' "$DIR/failures.xml" >"$DIR/bad.xml"
xmllint --noout --schema "$XSD" "$DIR/bad.xml" 2>/dev/null && fail "schema accepts clasname="

# What the escaping must give back, read by the real parsers.
text=$(xmllint --xpath 'string(//testcase[@name="case_b"]/system-out)' "$DIR/failures.xml")
grep -qF ']]> </system-out> <![CDATA[x]]>' <<<"$text" || fail "system-out text: $text"
grep -qF 'not ok 1 - fake' <<<"$text" || fail "system-out text lacks the fake TAP line"
msg=$(xmllint --xpath 'string(//testcase[@name="case_b"]/failure/@message)' "$DIR/failures.xml")
[ "$msg" = $'m2 failed: <"&\'>\ufffd \\ end' ] || fail "failure message attribute: $msg"

python3 - "$DIR/failures.json" <<'PY' || fail "failures.json values"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["run"] == 42 and d["state"] == "failed", d["state"]
out = d["stages"][5]["results"][1]["output"]
assert out.startswith("line1 \"quoted\" 'single' & <tag>\n\x00nul\x01soh\x1b[31m"), out[:60]
assert "bad: \ufffd \ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd \ufffe end\n" in out
assert "crlf\r\n" in out and out.endswith("last line no newline")
assert [c["state"] for c in d["cases"]] == ["passed", "failed", "failed", "passed"]
assert d["stages"][8]["outcome"] == "skipped"
assert d["participants"][2]["name"] == "m3&<'\"", d["participants"][2]
PY

# The log section, decoded: the command survives XML and JSON escaping and
# runs in a shell as the name it quotes.
python3 - "$DIR/failures_logs.json" <<'PY' || fail "failures_logs.json values"
import json, shlex, sys
d = json.load(open(sys.argv[1]))
st = d["stages"][5]["logs"]
assert [r["name"] for r in st["ranges"]] == ["m2", "m3&<'\"", "c0c0000000000001"], st
cmd = shlex.split(st["ranges"][1]["command"])
assert cmd == ["tscctl", "logs", "42", "--case", "case_b", "--node", "m3&<'\""], cmd
assert [e["kind"] for e in st["errors"]] == ["gap", "skew"], st["errors"]
assert st["errors"][1]["b"]["stage"] == 5 and st["errors"][1]["a"]["stage"] is None
assert d["stages"][13]["logs"]["ranges"][0]["command"].endswith("--stage suite-finalize --node 'm3&<'\\''\"'")
assert d["stages"][4]["logs"] == {"ranges": [], "errors": []}
assert d["logs"]["merged"] == 210 and d["logs"]["finished"] is True
assert [e["kind"] for e in d["logs"]["errors"]] == ["gap", "skew", "duplicate"]
assert d["logs"]["errors"][2]["b"] is None
PY
cmd=$(xmllint --xpath 'string(//testcase[@name="case_b"]/failure)' "$DIR/failures_logs.xml" |
  grep -F 'logs of m3' | sed 's/.*: tscctl/tscctl/')
[ "$(eval "set -- $cmd"; echo "$7")" = "m3&<'\"" ] || fail "junit log command: $cmd"
xmllint --xpath 'string(/testsuites/testsuite/system-out)' "$DIR/failures_logs.xml" |
  grep -qF 'duplicate: c0c0000000000001 seq 9' || fail "junit log summary"

perl -MTAP::Parser -e '
  my $p = TAP::Parser->new({ source => $ARGV[0] });
  my @msgs;
  while (my $r = $p->next) {
    push @msgs, $r->data->{message} if $r->is_yaml;
    die "unknown line: " . $r->as_string . "\n" if $r->is_unknown;
    die "bail out: " . $r->as_string . "\n" if $r->is_bailout;
  }
  die "parse errors: @{[$p->parse_errors]}\n" if $p->parse_errors;
  die "yaml blocks: " . scalar(@msgs) . "\n" unless @msgs == 3;
  die "message: $msgs[0]\n" unless $msgs[0] eq "m2 failed: <\"&\x27>\x02 \\ end";
  die "failed: " . join(",", $p->failed) . "\n" unless join(",", $p->failed) eq "2,3,5";
' "$DIR/failures.tap" || fail "TAP::Parser on failures.tap"

if [ $FAILS -ne 0 ]; then
  echo "$FAILS check(s) failed; files kept in ${DIR}.kept"
  cp -r "$DIR" "${DIR}.kept"
  exit 1
fi
echo "ok: junit, json and tap of 6 runs read back by xmllint, python3 and prove"
