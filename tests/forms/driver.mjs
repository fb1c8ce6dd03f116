// Renders Camunda forms with the real @bpmn-io/form-js viewer in headless Debian Chromium and
// acts on them as an operator would, for pytest (tests/fakes/form_browser.py): one JSON request
// a line on stdin, one JSON reply a line on stdout. It exits, and ends Chromium, when stdin closes.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { installHarness } from './harness.mjs';
import {
  allowed,
  chooseOption,
  fillField,
  launchBrowser,
  serveCommands,
  settle,
} from './session.mjs';

const require = createRequire(import.meta.url);
const FORM_JS = dirname(require.resolve('@bpmn-io/form-js/package.json'));
const FORM_JS_VERSION = JSON.parse(readFileSync(join(FORM_JS, 'package.json'), 'utf8')).version;
const VIEWPORT = { width: 1000, height: 800 };

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>form</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/form-js.css">
<script src="/form-viewer.umd.js"></script>
<script src="/harness.js"></script>
</head>
<body><div id="form"></div></body>
</html>`;

const FILES = {
  '/': ['text/html', PAGE],
  '/form-js.css': ['text/css', readFileSync(join(FORM_JS, 'dist/assets/form-js.css'))],
  // The viewer bundle Tasklist's `Form` comes from: window.FormViewer.Form.
  '/form-viewer.umd.js': [
    'text/javascript',
    readFileSync(join(FORM_JS, 'dist/form-viewer.umd.js')),
  ],
  '/harness.js': ['text/javascript', `(${installHarness})('#form');`],
};

function serve() {
  const server = createServer((request, response) => {
    const file = FILES[request.url];
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': file[0] }).end(file[1]);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const server = await serve();
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await launchBrowser(VIEWPORT);

let page = null;
let problems = [];

async function newPage() {
  if (page) await page.close();
  const opened = await browser.newPage();
  const seen = [];
  opened.setDefaultTimeout(15000);
  await opened.setRequestInterception(true);
  opened.on('request', (request) => {
    const url = request.url();
    if (allowed(url, origin)) {
      request.continue();
    } else {
      seen.push(`blocked request: ${url}`);
      request.abort();
    }
  });
  opened.on('response', (response) => {
    if (response.status() >= 400) seen.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  opened.on('console', (message) => {
    if (message.type() === 'error') seen.push(`console: ${message.text()}`);
  });
  opened.on('pageerror', (error) => seen.push(`page error: ${error.message}`));
  await opened.goto(origin + '/', { waitUntil: 'load' });
  page = opened;
  problems = seen;
  return opened;
}

function currentPage() {
  if (!page) throw new Error('no form rendered yet: send "render" first');
  return page;
}

const commands = {
  async render({ schema, data }) {
    const target = await newPage();
    const warnings = await target.evaluate(
      async (schema, data) => {
        window.__form = new FormViewer.Form({ container: document.querySelector('#form') });
        const result = await window.__form.importSchema(schema, data || {});
        return result.warnings.map((warning) =>
          warning && warning.message ? String(warning.message) : JSON.stringify(warning),
        );
      },
      schema,
      data,
    );
    await settle(target);
    return { warnings };
  },

  async fill({ label, value }) {
    return fillField(currentPage(), label, value);
  },

  async choose({ label, option }) {
    return chooseOption(currentPage(), label, option);
  },

  async submit() {
    const target = currentPage();
    const result = await target.evaluate(() => {
      const { data, errors } = window.__form.submit();
      return JSON.parse(JSON.stringify({ data, errors }));
    });
    await settle(target);
    const shownErrors = await target.evaluate(() => window.__harness.shownErrors());
    return { ...result, shownErrors };
  },

  async fields() {
    const target = currentPage();
    return target.evaluate(() => ({
      fields: window.__harness.fields(),
      text: document.querySelector('#form').innerText,
    }));
  },

  async screenshot({ path }) {
    await currentPage().screenshot({ path, fullPage: true });
    return { path };
  },

  async consoleErrors() {
    currentPage();
    return { errors: [...problems] };
  },

  async style({ selector, property }) {
    const value = await currentPage().evaluate(
      (selector, property) => {
        const element = document.querySelector(selector);
        if (!element) throw new Error(`nothing matches ${JSON.stringify(selector)}`);
        return getComputedStyle(element).getPropertyValue(property);
      },
      selector,
      property,
    );
    return { value };
  },

  async elementText({ selector }) {
    const text = await currentPage().evaluate((selector) => {
      const element = document.querySelector(selector);
      if (!element) throw new Error(`nothing matches ${JSON.stringify(selector)}`);
      return element.innerText;
    }, selector);
    return { text };
  },

  async count({ selector }) {
    const count = await currentPage().evaluate(
      (selector) => document.querySelectorAll(`.fjs-form ${selector}`).length,
      selector,
    );
    return { count };
  },
};

await serveCommands(browser, commands, {
  ready: { formJs: FORM_JS_VERSION },
  onClose: () => server.close(),
});
