# shellcheck shell=bash
# The visual report: a self-contained HTML file with the charts of one
# database (scripts/report.sh, the last step of scripts/demo.sh), and its
# test in headless Chromium (scripts/test.sh).  Sourced through
# scripts/lib.sh, never run.
#
# The page is scripts/report/template.html with two things inlined: the data
# (the JSON lines of scripts/report/report_data.sql, read with psql) and
# Apache ECharts (echarts.min.js from npm, the version pinned by
# scripts/report/package-lock.json, installed with `npm ci` into
# scripts/report/node_modules when that is missing or holds another version).

REPORT_DIR=$ROOT/scripts/report

# node and npm: Debian's packages when neither command is there (a Node.js
# from elsewhere, NodeSource's say, brings its own npm and is kept)
ensure_node() {
    if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        return 0
    fi
    local PACKAGES=()
    command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
    command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
    ensure_packages
}

# the pinned ECharts in scripts/report/node_modules (npm ci from the lock file)
ensure_echarts() {
    ensure_node
    local want have=
    want=$(node -e 'process.stdout.write(require(process.argv[1]).packages["node_modules/echarts"].version)' \
        "$REPORT_DIR/package-lock.json")
    if [[ -f $REPORT_DIR/node_modules/echarts/dist/echarts.min.js ]]; then
        have=$(node -e 'process.stdout.write(require(process.argv[1]).version)' \
            "$REPORT_DIR/node_modules/echarts/package.json" 2>/dev/null || true)
    fi
    [[ $have == "$want" ]] && return 0
    mkdir -p "$STATE"
    local log=$STATE/npm.log
    say "    npm ci: Apache ECharts $want into scripts/report/node_modules (log: $log)"
    if ! (cd "$REPORT_DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
        show_tail "$log" 30
        die "npm ci failed in $REPORT_DIR (the npm registry must be reachable)"
    fi
}

# write_report OUT.html psql-command...: read the data with the psql
# command given (psql_db DB for the throwaway cluster, or psql and its
# connection arguments) and write the page; psql's errors (a section that
# could not be read) are printed and shown in the page, the others are kept
write_report() {
    local out=$1; shift
    local dir tmp rc=0
    dir=$(dirname "$out")
    mkdir -p "$dir"
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/seg_reco_report.XXXXXX")
    # ON_ERROR_STOP off (psql_db sets it): one failing section must not
    # lose the others
    "$@" -X -q -At -v ON_ERROR_STOP=0 -f "$REPORT_DIR/report_data.sql" >"$tmp/data.jsonl" 2>"$tmp/errors.txt" || rc=$?
    if [[ $rc -ne 0 ]] || ! grep -q '^{"meta"' "$tmp/data.jsonl"; then
        cat "$tmp/errors.txt" >&2
        rm -rf "$tmp"
        die "could not read the report's data (psql exit code $rc; is seg_reco installed in that database?)"
    fi
    if [[ -s $tmp/errors.txt ]]; then
        warn "some of the report's data could not be read (the page says which):"
        sed 's/^/    /' "$tmp/errors.txt" >&2
    fi
    if ! node "$REPORT_DIR/build.js" "$tmp/data.jsonl" "$tmp/errors.txt" "$out"; then
        rm -rf "$tmp"
        die "could not write $out"
    fi
    rm -rf "$tmp"
}

# ---------------------------------------------------------------------------
# headless Chromium

ensure_chromium() {
    command -v chromium >/dev/null 2>&1 && return 0
    local PACKAGES=(chromium)
    ensure_packages
}

# chromium_run PROFILE-DIR LOG args...: headless Chromium with a fresh
# profile, software rendering and virtual time (the page's timers and
# animation frames run until idle or the budget is used, without waiting),
# at most 120 s.  --no-sandbox: Chromium's sandbox does not start as root
# (CI) or in most containers; the page is our own file.
chromium_run() {
    local profile=$1 log=$2; shift 2
    rm -rf "$profile"
    mkdir -p "$profile"
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-first-run --no-default-browser-check --disable-extensions --disable-background-networking \
        --disable-component-update --disable-sync --mute-audio --hide-scrollbars \
        --user-data-dir="$profile" --enable-logging=stderr --v=0 \
        --virtual-time-budget=20000 --run-all-compositor-stages-before-draw "$@" 2>>"$log"
}

# report_png OUT.html FILE.png: the top of the page, 1400 x 1650 pixels
report_png() {
    local html=$1 png=$2 dir log
    dir=$(mktemp -d "${TMPDIR:-/tmp}/seg_reco_png.XXXXXX")
    log=$dir/chromium.log
    mkdir -p "$(dirname "$png")"
    if ! chromium_run "$dir/profile" "$log" --window-size=1400,1650 --screenshot="$(realpath -m "$png")" \
            "file://$(realpath "$html")" >/dev/null; then
        show_tail "$log" 30
        rm -rf "$dir"
        die "chromium --screenshot failed"
    fi
    rm -rf "$dir"
}

# test: a small demo database with every chart's data (demo data, the
# planted campaign, a refresh, a recommender comparison), its report opened
# in headless Chromium: the page must report no JavaScript error, every
# chart rendered with data points, and the counts the database holds
REPORT_TEST_DB=seg_reco_report_test
run_report_test() {
    local dir=$STATE/report_test rc=0 log
    mkdir -p "$dir"
    log=$dir/test.log
    : >"$log"
    (
        set -euo pipefail
        ensure_echarts
        ensure_chromium
        _report_test_db
        _report_test_check "$dir"
    ) >"$log" 2>&1 || rc=$?
    sed 's/^/    /' "$log"
    if [[ $rc -eq 0 ]]; then
        PASSED=$(( PASSED + 1 ))
    else
        FAILED=$(( FAILED + 1 ))
        FAILED_NAMES+=("visual report in headless Chromium (log: $log)")
    fi
}

_report_test_db() {
    psql_db postgres -q -c "DROP DATABASE IF EXISTS $REPORT_TEST_DB WITH (FORCE)" -c "CREATE DATABASE $REPORT_TEST_DB"
    psql_db "$REPORT_TEST_DB" -q -o /dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION seg_reco;
SELECT * FROM seg_reco.generate_demo_data(customers => 1500, products => 600, transactions => 120000,
                                          digital_events => 5000, seed => 42);
SELECT * FROM seg_reco.generate_demo_campaign();
CALL seg_reco.refresh();
SELECT * FROM seg_reco.evaluate(seg_reco.default_as_of() - 29, 10, '{"sample_size": 300}', 'report test');
SQL
    say "small demo database $REPORT_TEST_DB: demo data, campaign, refresh, evaluation"
}

# the values each chart must show: "chart attribute value" lines
_report_test_expected() {
    psql_db "$REPORT_TEST_DB" -At -F ' ' <<'SQL'
SELECT 'segments items', count(*) FROM seg_reco.segment_summary WHERE kind = 'rfm';
SELECT 'segments total', count(*) FROM seg_reco.customer_segments;
SELECT 'clusters items', count(*) FROM seg_reco.cluster_profiles;
SELECT 'clusters total', count(*) FROM seg_reco.customer_clusters;
SELECT 'clv total', count(*) FROM seg_reco.customer_segments WHERE clv_12m IS NOT NULL;
SELECT 'p_alive items', 20;
SELECT 'p_alive total', count(*) FROM seg_reco.customer_segments WHERE p_alive IS NOT NULL;
SELECT 'cohorts items', count(*) FROM seg_reco.cohorts;
SELECT 'cohorts cohorts', count(DISTINCT cohort) FROM seg_reco.cohorts;
SELECT 'cohort_revenue items', count(*) FROM seg_reco.cohorts;
SELECT 'evaluation items', count(*) FROM seg_reco.evaluation_runs
 WHERE run_id = (SELECT max(run_id) FROM seg_reco.evaluation_runs);
-- conversion, promoted conversion, revenue three ways, basket size; the
-- planted effect on the first five
SELECT 'ab items', 6;
SELECT 'ab planted', 5;
SELECT 'refresh items', count(*) FROM seg_reco.refresh_log
 WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log);
SQL
}

_report_test_check() {
    local dir=$1
    local html=$dir/report.html
    write_report "$html" psql_db "$REPORT_TEST_DB"
    say "report written: $html ($(( $(stat -c %s "$html") / 1024 )) kB)"
    if grep -qE '<script[^>]+src=|<link[^>]+href=' "$html"; then
        die "the page loads a file (script src= or link href=): it must be self-contained"
    fi
    _report_test_expected >"$dir/expected.txt"
    local browser_log=$dir/chromium.log
    : >"$browser_log"
    chromium_run "$dir/profile" "$browser_log" --window-size=1400,1000 --dump-dom "file://$html" >"$dir/dom.html" ||
        { show_tail "$browser_log" 30; die "chromium --dump-dom failed"; }
    chromium_run "$dir/profile" "$browser_log" --window-size=1400,5200 --screenshot="$dir/report.png" "file://$html" >/dev/null ||
        { show_tail "$browser_log" 30; die "chromium --screenshot failed"; }
    python3 - "$dir/dom.html" "$dir/expected.txt" "$browser_log" "$dir/report.png" <<'PY'
import html.parser, os, re, sys

dom_file, expected_file, log_file, png = sys.argv[1:5]
failures = []

class Markers(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.body = {}
        self.charts = {}
        self.in_errors = False
        self.errors = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'body':
            self.body = a
        if 'data-chart' in a:
            self.charts[a['data-chart']] = a
        if a.get('id') == 'js-errors':
            self.in_errors = True
    def handle_endtag(self, tag):
        if tag == 'ul':
            self.in_errors = False
    def handle_data(self, data):
        if self.in_errors and data.strip():
            self.errors.append(data.strip())

dom = open(dom_file, encoding='utf-8').read()
if not dom.strip():
    sys.exit('chromium printed no DOM')
m = Markers()
m.feed(dom)
if m.body.get('data-report-status') != 'done':
    failures.append('the page did not finish: data-report-status = %r' % m.body.get('data-report-status'))
if m.body.get('data-js-errors') != '0' or m.errors:
    failures.append('JavaScript errors in the page (%s): %s' % (m.body.get('data-js-errors'), '; '.join(m.errors)))
# errors the page could not catch (a syntax error in a script, say) reach
# Chromium's console log
log = open(log_file, encoding='utf-8', errors='replace').read()
for line in log.splitlines():
    if re.search(r'CONSOLE.*(Uncaught|Error)|Uncaught ', line):
        failures.append('console: ' + line.strip())

expected = {}
for line in open(expected_file):
    chart, attr, value = line.split()
    expected.setdefault(chart, {})[attr] = value
for chart in ['segments', 'clusters', 'clv', 'p_alive', 'cohorts', 'cohort_revenue', 'evaluation', 'ab', 'refresh']:
    a = m.charts.get(chart)
    if a is None:
        failures.append('chart %s: not in the page' % chart)
        continue
    # the page marks a chart rendered only when its series hold data points
    # (else "empty", counted as a JavaScript error)
    if a.get('data-status') != 'rendered':
        failures.append('chart %s: status %r, not rendered' % (chart, a.get('data-status')))
    for attr, value in expected.get(chart, {}).items():
        got = a.get('data-' + attr)
        if got != value:
            failures.append('chart %s: data-%s = %r, the database says %s' % (chart, attr, got, value))
    print('chart %-15s %-9s items %-4s points %-4s %s' % (
        chart, a.get('data-status'), a.get('data-items'), a.get('data-points'),
        ' '.join('%s=%s' % (k[5:], v) for k, v in sorted(a.items())
                 if k.startswith('data-') and k not in ('data-chart', 'data-status', 'data-items', 'data-points'))))
size = os.path.getsize(png) if os.path.exists(png) else 0
print('screenshot %s: %d kB' % (png, size // 1024))
# a blank page compresses to a few kB; nine charts are far more
if size < 60 * 1024:
    failures.append('the screenshot is %d bytes: a blank page?' % size)
for f in failures:
    print('FAIL: ' + f)
sys.exit(1 if failures else 0)
PY
}
