#!/usr/bin/env node
// Assemble the self-contained HTML report of scripts/report.sh:
//   node build.js DATA.jsonl ERRORS.txt OUT.html
// DATA.jsonl: the lines of report_data.sql, one JSON object {"section": value}
// each; ERRORS.txt: what psql printed on stderr (shown in the page when not
// empty).  The data and node_modules/echarts/dist/echarts.min.js are inlined
// into template.html; the page loads nothing from the network.
'use strict';
const fs = require('fs');
const path = require('path');

const [dataFile, errorsFile, outFile] = process.argv.slice(2);
if (!outFile) {
    process.stderr.write('usage: node build.js DATA.jsonl ERRORS.txt OUT.html\n');
    process.exit(2);
}
const here = __dirname;
const data = {};
fs.readFileSync(dataFile, 'utf8').split('\n').forEach((line, i) => {
    line = line.trim();
    if (!line.startsWith('{')) return;
    let obj;
    try {
        obj = JSON.parse(line);
    } catch (e) {
        throw new Error(`${dataFile}:${i + 1}: not JSON: ${e.message}`);
    }
    Object.assign(data, obj);
});
const errors = errorsFile && fs.existsSync(errorsFile) ? fs.readFileSync(errorsFile, 'utf8').trim() : '';
if (errors) data._errors = errors;

const echartsFile = path.join(here, 'node_modules', 'echarts', 'dist', 'echarts.min.js');
let lib = fs.readFileSync(echartsFile, 'utf8');
const version = JSON.parse(fs.readFileSync(path.join(here, 'node_modules', 'echarts', 'package.json'), 'utf8')).version;
// nothing inside an inline script may close it
lib = lib.replace(/<\/(script)/gi, '<\\/$1');
// JSON inside <script type="application/json">: no "<" at all (so no
// "</script>" or "<!--"), and the two line separators JavaScript rejects
const json = JSON.stringify(data)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');

let html = fs.readFileSync(path.join(here, 'template.html'), 'utf8');
const parts = html.split('__REPORT_DATA__');
if (parts.length !== 2) throw new Error('template.html must hold __REPORT_DATA__ exactly once');
html = parts[0] + json + parts[1];
const libParts = html.split('<!--__ECHARTS__-->');
if (libParts.length !== 2) throw new Error('template.html must hold <!--__ECHARTS__--> exactly once');
html = libParts[0] + `<script>/* Apache ECharts ${version} (Apache License 2.0), from npm */\n` + lib + '\n</script>' + libParts[1];

fs.writeFileSync(outFile + '.tmp', html);
fs.renameSync(outFile + '.tmp', outFile);
